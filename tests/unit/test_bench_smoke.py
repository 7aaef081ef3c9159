"""`make bench` is not a test, but its in-process part must keep working."""

from __future__ import annotations

from claimscrub.bench import __main__ as bench
from claimscrub.bench.claims import make_claims
from claimscrub.bench.load import percentile
from claimscrub.core.claim import parse_claim


def test_generated_claims_are_valid_and_reproducible() -> None:
    claims = make_claims(50, "T")
    assert claims == make_claims(50, "T")
    assert all(parse_claim(c).ok for c in claims)
    assert {len(c["serviceLines"]) for c in claims} <= set(range(1, 7))


def test_in_process_bench_reports_both_rates() -> None:
    figures = bench.in_process(20)
    assert set(figures) == {"decode_claims_per_s", "inprocess_claims_per_s"}
    assert all(v > 0 for v in figures.values())


def test_full_size_ptp_part_reports_load_and_both_rates() -> None:
    figures = bench.full_size_ptp(20, rows=3000)
    assert figures["ptp_rows"] == 3000
    assert figures["ptp_load_s"] > 0 and figures["ptp_rss_added_mb"] >= 0
    assert figures["inprocess_full_ptp_claims_per_s"] > 0
    assert figures["inprocess_sample_ptp_claims_per_s"] > 0


def test_percentile_picks_from_sorted_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) in (50.0, 51.0)
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.0) == 1.0


def test_x12_bench_reports_a_rate() -> None:
    from claimscrub.x12.bench import x12_claims_per_s

    assert x12_claims_per_s(10) > 0
