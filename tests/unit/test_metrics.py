"""The metric families' bookkeeping: series at zero, bounded labels, stale
partitions dropped. (Scraped over HTTP in tests/integration.)"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from claimscrub.core.edits import EDIT_CODES, CheckName, Edit, Severity
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime.metrics import DLQ_REASON_KINDS, ServiceMetrics, dlq_reason_kind


def _metrics() -> tuple[CollectorRegistry, ServiceMetrics]:
    registry = CollectorRegistry()
    return registry, ServiceMetrics(registry)


def test_dlq_reasons_become_bounded_kinds() -> None:
    # The reasons claimscrub.core.codec raises, and text it never raises.
    assert dlq_reason_kind("empty value") == "empty"
    assert dlq_reason_kind("invalid JSON (JSONDecodeError)") == "invalid_json"
    assert dlq_reason_kind("invalid protobuf Claim") == "invalid_protobuf"
    assert dlq_reason_kind("no Claim fields in protobuf value") == "invalid_protobuf"
    assert dlq_reason_kind("invalid CheckResult") == "invalid_check_result"
    assert dlq_reason_kind("Ada Lovelace 1950-03-02") == "other"


def test_a_bound_service_exports_zero_dlq_series_and_build_info() -> None:
    r, m = _metrics()
    m.bind("units", "1.2.3")
    assert r.get_sample_value("claimscrub_build_info", {"service": "units", "version": "1.2.3"})
    for kind in DLQ_REASON_KINDS:
        assert r.get_sample_value("claimscrub_dlq_total", {"service": "units", "reason": kind}) == 0
    m.dead_lettered("units", "invalid JSON (JSONDecodeError)")
    labels = {"service": "units", "reason": "invalid_json"}
    assert r.get_sample_value("claimscrub_dlq_total", labels) == 1


def test_a_check_service_exports_its_edits_and_the_claim_level_ones_at_zero() -> None:
    r, m = _metrics()
    m.expect_check("units", CheckName.UNITS)
    for spec in EDIT_CODES.values():
        labels = {
            "service": "units",
            "check": spec.check.value,
            "code": spec.code,
            "severity": spec.severity.value,
        }
        value = r.get_sample_value("claimscrub_edits_total", labels)
        if spec.check in (CheckName.UNITS, CheckName.CLAIM):
            assert value == 0, spec.code
        else:
            assert value is None, spec.code


def test_a_published_result_counts_status_edits_with_their_carc_and_latency() -> None:
    r, m = _metrics()
    m.expect_results()
    for status in Status:
        assert r.get_sample_value("claimscrub_results_total", {"status": status.value}) == 0
    edits = (
        Edit("MUE_EXCEEDED", Severity.ERROR, CheckName.UNITS, 1, "97110 billed 9 units"),
        Edit("MALFORMED_CLAIM", Severity.ERROR, CheckName.CLAIM, 0, "payerId missing"),
    )
    m.result_published(ScrubResult("C-1", Status.HOLD, ("UNITS",), edits), submitted_at_ms=1)
    assert r.get_sample_value("claimscrub_results_total", {"status": "HOLD"}) == 1
    # CARCs from the contract's §4 table.
    mue = {"check": "UNITS", "code": "MUE_EXCEEDED", "severity": "ERROR", "carc": "CO-96/N362"}
    bad = {"check": "CLAIM", "code": "MALFORMED_CLAIM", "severity": "ERROR", "carc": "CO-16"}
    assert r.get_sample_value("claimscrub_result_edits_total", mue) == 1
    assert r.get_sample_value("claimscrub_result_edits_total", bad) == 1
    assert r.get_sample_value("claimscrub_end_to_end_seconds_count", {}) == 1
    # The claim id and the message never become label values.
    text = generate_latest(r).decode()
    assert "C-1" not in text
    assert "97110 billed" not in text


def test_partitions_no_longer_assigned_disappear() -> None:
    r, m = _metrics()
    m.observe_partitions(
        [("claims.submitted", 0, 10, 4), ("claims.submitted", 1, 7, 7)], {"claims.submitted": 2}
    )
    lag0 = {"topic": "claims.submitted", "partition": "0"}
    lag1 = {"topic": "claims.submitted", "partition": "1"}
    assert r.get_sample_value("claimscrub_consumer_lag", lag0) == 6
    assert r.get_sample_value("claimscrub_consumer_lag", lag1) == 0
    m.observe_partitions([("claims.submitted", 1, 9, 8)], {"claims.submitted": 1})
    assert r.get_sample_value("claimscrub_consumer_lag", lag0) is None
    assert r.get_sample_value("claimscrub_consumer_lag", lag1) == 1
    assert r.get_sample_value("claimscrub_consumer_end_offset", lag1) == 9
    assert r.get_sample_value("claimscrub_consumer_committed_offset", lag1) == 8
    topic = {"topic": "claims.submitted"}
    assert r.get_sample_value("claimscrub_consumer_assigned_partitions", topic) == 1
