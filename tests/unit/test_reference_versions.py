"""Reference data versions: the one in force on a date of service, the versions a
result reports, and a version's records on reference.tables (docs/reference-data.md)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from claimscrub.core.claim import ParsedClaim, parse_claim
from claimscrub.core.codec import decode_scrub_result, encode_scrub_result
from claimscrub.core.edits import CheckName
from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.core.results import CheckResult, ScrubResult, Status, combine
from claimscrub.core.versions import MUE, Dated, Version, merge_versions
from claimscrub.reference.kinds import merge_payer_versions, read_version, with_effective
from claimscrub.reference.wire import (
    CHUNK_BYTES,
    Payload,
    TableAssembler,
    TableVersion,
    decode_manifest,
    encode_table_version,
    withdrawal_records,
)
from claimscrub.units.check import units_check
from claimscrub.units.reference import UnitsReference, mue_version
from claimscrub.units.rules import check_units

HEADER = (
    "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
)


def _mue(value: int) -> bytes:
    return (HEADER + f"97110,{value},1 Line Edit,Clinical: Data\n").encode()


def _v(vid: str, effective: dt.date | None) -> Version[str]:
    return Version(MUE, vid, effective, vid)


def test_version_in_force_is_the_latest_on_or_before_the_date() -> None:
    dated = Dated.of([_v("apr", dt.date(2026, 4, 1)), _v("jan", dt.date(2026, 1, 1))])
    assert dated.on(dt.date(2026, 3, 31)).version_id == "jan"
    assert dated.on(dt.date(2026, 4, 1)).version_id == "apr"  # its effective date is inside
    # before the first version: the first (the oldest known table)
    assert dated.on(dt.date(2025, 12, 31)).version_id == "jan"
    assert dated.ids_on([dt.date(2026, 4, 2), dt.date(2026, 3, 1)]) == "jan,apr"


def test_undated_version_applies_from_the_beginning() -> None:
    dated = Dated.of([_v("q3", dt.date(2026, 7, 1)), _v("base", None)])
    assert dated.on(dt.date(2020, 1, 1)).version_id == "base"
    assert dated.on(dt.date(2026, 7, 1)).version_id == "q3"


def test_merge_versions_keeps_each_id_once_in_kind_order() -> None:
    merged = merge_versions([{"mue": "a", "payers": "p"}, {"payers": "p", "ptp": "x,y"}])
    assert merged == {"payers": "p", "mue": "a", "ptp": "x,y"}
    assert list(merged) == ["payers", "mue", "ptp"]


def _parsed(lines: list[tuple[str, int, int]]) -> ParsedClaim:
    parsed = parse_claim(
        {
            "claimId": "V-1",
            "payerId": "MEDICARE",
            "submissionDate": "2026-06-01",
            "serviceLines": [
                {"lineNumber": i, "dateOfService": dos, "procedureCode": "97110",
                 "modifiers": ["GP"], "units": units, "minutes": minutes}
                for i, (dos, units, minutes) in enumerate(lines, start=1)
            ],
        }
    )  # fmt: skip
    assert parsed.ok and parsed.claim is not None
    return parsed


def test_claim_over_a_quarter_boundary_is_judged_by_both_mue_versions() -> None:
    q1 = mue_version([("q1.csv", _mue(4))], dt.date(2026, 1, 1), "q1")
    q2 = mue_version([("q2.csv", _mue(2))], dt.date(2026, 4, 1), "q2")
    ref = UnitsReference.load().with_versions(mue=Dated.of([q1, q2]))
    parsed = _parsed([("2026-03-31", 3, 45), ("2026-04-01", 3, 45)])
    claim = parsed.claim
    assert claim is not None
    mue = [e.line_number for e in check_units(claim, ref) if e.code == "MUE_EXCEEDED"]
    assert mue == [2]  # 3 units: within 4 on 31 March, over 2 on 1 April
    assert ref.versions_for(claim)["mue"] == "q1,q2"
    result = units_check(ref).run(parsed, dt.date(2026, 6, 1))
    assert result.reference_versions["mue"] == "q1,q2"
    assert result.reference_versions["payers"].startswith("defaults.")


def test_scrub_result_reports_every_checks_versions() -> None:
    a = CheckResult("C", CheckName.UNITS, (), reference_versions={"payers": "p", "mue": "m"})
    b = CheckResult("C", CheckName.NECESSITY, (), reference_versions={"payers": "p", "ptp": "x"})
    result = combine("C", [a, b])
    assert result.to_json()["referenceVersions"] == {"payers": "p", "mue": "m", "ptp": "x"}


def test_payer_version_ids_name_payer_date_and_content() -> None:
    records = [
        {"payerId": "acme", "unitRule": "PER_CODE"},
        {"payerId": "ACME", "unitRule": "TOTAL_TIME", "effectiveDate": "2026-07-01"},
    ]
    policies = PayerPolicies.from_records(records, "p.json")
    first, second = policies.by_payer["ACME"]
    assert first.version_id.startswith("ACME@base.")
    assert second.version_id.startswith("ACME@2026-07-01.")
    dates = [dt.date(2026, 6, 30), dt.date(2026, 7, 1)]
    assert policies.version_ids("acme", dates) == f"{first.version_id},{second.version_id}"
    assert PayerPolicies.defaults().version_ids("OTHER", dates).startswith("defaults.")


def test_payer_load_merges_with_published_versions_by_effective_date() -> None:
    published = {
        "ACME": [{"payerId": "ACME", "effectiveDate": "2026-01-01", "unitRule": "PER_CODE"}]
    }
    new = with_effective([{"payerId": "acme", "visitLimitPerYear": 20}], dt.date(2026, 7, 1))
    merged = merge_payer_versions(published, new)
    assert [v["effectiveDate"] for v in merged["ACME"]] == ["2026-01-01", "2026-07-01"]
    again = merge_payer_versions(merged, [{**new[0], "visitLimitPerYear": 30}])
    assert [v.get("visitLimitPerYear") for v in again["ACME"]] == [None, 30]


def test_a_version_goes_out_in_chunks_under_the_size_and_reads_back_in_any_order() -> None:
    rng = random.Random(7)
    big = bytes(rng.getrandbits(8) for _ in range(3 * CHUNK_BYTES))  # incompressible
    version = TableVersion(
        "ptp", "2026-04-01.abc", dt.date(2026, 4, 1), (("f1.txt", big), ("f2.txt", b"x"))
    )
    records = encode_table_version(version)
    assert len(records) >= 5 and all(len(v) <= CHUNK_BYTES for _, v in records[:-1])
    assert records[-1][0] == b"ptp:2026-04-01.abc"  # the manifest, last
    manifest_first = [records[-1], *reversed(records[:-1])]
    assembler = TableAssembler()
    outcomes = [assembler.apply(k, v) for k, v in manifest_first]
    assert outcomes[:-1] == [None] * (len(records) - 1)  # nothing until every chunk is in
    whole = outcomes[-1]
    assert isinstance(whole, Payload)
    assert whole.unpack() == version
    # withdrawn: the manifest's tombstone names the version
    tombstones = withdrawal_records(decode_manifest(records[-1][1]))
    assert tombstones[0] == (b"ptp:2026-04-01.abc", None)
    assert assembler.apply(*tombstones[0]) == ("ptp", "2026-04-01.abc")


def test_a_version_without_its_manifest_is_never_whole() -> None:
    version = TableVersion("mue", "v1", None, (("m.csv", _mue(4)),))
    assembler = TableAssembler()
    assert [assembler.apply(k, v) for k, v in encode_table_version(version)[:-1]] == [None]
    assert assembler.waiting() == 0


def test_a_bad_table_file_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = TableVersion("mue", "v", None, (("bad.csv", (HEADER + "97110,2,7 x,y\n").encode()),))
    with pytest.raises(ReferenceDataError, match=r"^bad.csv line 2: MUE Adjudication Indicator"):
        read_version(bad)


def test_a_result_prints_its_versions_in_the_contracts_order_of_kinds_whatever_the_map_order() -> (
    None
):
    # A protobuf map read back from claims.scrubbed comes in any order; the
    # printed result must equal the one printed when it was scrubbed.
    scrambled = {"code-status": "c", "ptp": "p", "payers": "P", "coverage": "v", "mue": "m"}
    result = ScrubResult("C-1", Status.CLEAN, ("UNITS",), (), reference_versions=scrambled)
    for shown in (result, decode_scrub_result(encode_scrub_result(result))):
        assert list(shown.to_json()["referenceVersions"]) == [  # type: ignore[call-overload]
            "payers",
            "mue",
            "ptp",
            "coverage",
            "code-status",
        ]
