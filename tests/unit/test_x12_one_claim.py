"""Each claim the intake reads travels with its one-claim 837P interchange
(x12.one_claim), what claims.ready carries for it: valid by pyx12, holding
that claim only, with control numbers of its own."""

from __future__ import annotations

import io

from claimscrub.intake.topology import IntakeStep
from claimscrub.runtime.engine import Record
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_SUBMITTED, CLAIMS_X12
from claimscrub.x12.compose import interchange
from claimscrub.x12.intake import claims_of
from claimscrub.x12.one_claim import ONE_CLAIM_HEADER
from claimscrub.x12.reader import Interchange
from tests.unit.test_intake_step import _claim

STEP = IntakeStep(Settings.from_env("intake", grpc_port=0, metrics_port=0, env={}))


def test_each_claim_gets_a_valid_interchange_of_its_own_with_the_same_claim_data() -> None:
    text = interchange([_claim(i) for i in range(3)], control_number=7, claims_per_set=2)
    record = Record(b"000000007", text.encode(), [], CLAIMS_X12.name, 0, 0, 0)
    claims = [o for o in STEP(record) if o.topic == CLAIMS_SUBMITTED.name]
    numbers = set()
    for o in claims:
        one = dict(o.headers)[ONE_CLAIM_HEADER]
        check = Interchange(io.StringIO(one.decode("latin-1")))
        got = [(tset.accepted, c.contract) for tset, c in claims_of(check)]
        assert [accepted for accepted, _ in got] == [True]
        assert got[0][1]["claimId"] == o.key.decode()
        assert got[0][1]["patient"]["memberId"] == o.key.decode().replace("C", "M")
        assert check.isa is not None
        numbers.add(check.isa.get(13))
    assert len(numbers) == 3 and "000000007" not in numbers
    # The same input read again gives the same bytes (a replayed intake).
    again = [o for o in STEP(record) if o.topic == CLAIMS_SUBMITTED.name]
    assert [dict(o.headers)[ONE_CLAIM_HEADER] for o in again] == [
        dict(o.headers)[ONE_CLAIM_HEADER] for o in claims
    ]
