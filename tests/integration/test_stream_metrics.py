"""Consumer lag and table sizes as the running services export them: once
the pipeline is idle, every partition's end offset is the broker's and the
lag is zero (an off-by-one in "committed" would leave 1 per partition).
The claims carry seeded PHI, which no /metrics page may show."""

from __future__ import annotations

import re
import time
import urllib.request
from typing import Any

import pytest

from claimscrub.core.codec import CONTENT_TYPE, encode_claim_json
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, consume_all, end_offsets, produce
from claimscrub.runtime.topics import AGGREGATOR_BY_FINGERPRINT, CLAIMS_SCRUBBED, CLAIMS_SUBMITTED

pytestmark = pytest.mark.kafka

_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")


def _gauges(port: int, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m[1] == name:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m[2])))
            found[labels] = float(m[3])
    return found


def _claim(i: int) -> dict[str, Any]:
    return {
        "claimId": f"LAG-{i:03d}",
        "payerId": "MEDICARE",
        "submissionDate": "2026-06-01",
        "patient": {"firstName": "Quillon", "lastName": "Marigoldsby",
                    "memberId": "QM55443322", "birthDate": "1948-07-19"},
        "serviceLines": [
            {"lineNumber": 1, "dateOfService": "2026-05-04", "procedureCode": "97110",
             "modifiers": ["GP"], "units": 2, "minutes": 30}
        ],
    }  # fmt: skip


def _broker_end_offsets(bootstrap: str, topic: str) -> dict[str, int]:
    return {str(p): end for p, end in end_offsets(bootstrap, topic).items()}


def test_idle_consumers_report_zero_lag_at_the_brokers_end_offsets(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    records = []
    for i in range(40):
        value, ctype = encode_claim_json(_claim(i))
        records.append((f"LAG-{i:03d}".encode(), value, [(CONTENT_TYPE, ctype)]))
    produce(kafka.bootstrap, CLAIMS_SUBMITTED.name, records)
    # Earlier tests' results share the topic: wait for these claims' own.
    wanted = {k for k, _, _ in records}
    deadline = time.monotonic() + 90
    while not wanted <= {r.key for r in consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name,
                                                    until=1, settle_s=0.5)}:  # fmt: skip
        assert time.monotonic() < deadline, "the claims got no results"

    units = services["units"].metrics_port
    expected = _broker_end_offsets(kafka.bootstrap, CLAIMS_SUBMITTED.name)
    assert sum(expected.values()) >= 40

    agg = services["aggregator"].metrics_port

    def state() -> dict[str, Any]:
        ends = _gauges(units, "claimscrub_consumer_end_offset")
        return {
            "units end offsets": {
                dict(k)["partition"]: v
                for k, v in ends.items()
                if dict(k)["topic"] == CLAIMS_SUBMITTED.name
            },
            "units lag": sorted(set(_gauges(units, "claimscrub_consumer_lag").values())),
            "units assigned": _gauges(units, "claimscrub_consumer_assigned_partitions"),
            "aggregator lag topics": {
                dict(k)["topic"] for k in _gauges(agg, "claimscrub_consumer_lag")
            },
            "aggregator tables": _gauges(agg, "claimscrub_table_keys"),
        }

    def settled(s: dict[str, Any]) -> bool:
        return bool(
            s["units end offsets"] == expected
            and s["units lag"] == [0]
            # Changelog and Faust's leader-election partitions are not lag.
            # The aggregator's two sources: the verdicts and its fingerprint repartition.
            and s["aggregator lag topics"] == {"claims.checks", AGGREGATOR_BY_FINGERPRINT.name}
            and s["aggregator tables"].get((("table", "claim-state"),), 0) >= 40
        )

    # Commits happen every second and the gauges are sampled every 5 s, from
    # when each service's Faust tasks start.
    deadline = time.monotonic() + 60
    while not settled(current := state()):
        assert time.monotonic() < deadline, (current, expected)
        time.sleep(1)
    assert current["units assigned"] == {(("topic", CLAIMS_SUBMITTED.name),): kafka.partitions}

    for p in services.values():
        url = f"http://127.0.0.1:{p.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        for phi in ("Quillon", "Marigoldsby", "QM55443322", "1948-07-19", "2026-05-04", "LAG-0"):
            assert phi not in text, f"{p.name} /metrics shows {phi}"
