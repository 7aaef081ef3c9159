"""The NECESSITY check as a :class:`~claimscrub.core.checks.Check`.

The rules are stateful, so they come in two forms over the same pure
function :func:`~claimscrub.necessity.rules.check_necessity`:

* :class:`BatchRules` (the CLI): rules that close over an in-memory state
  for the whole batch; each claim is checked against what the batch has
  recorded so far for its beneficiary, then recorded, so claims accumulate
  in input order, as on the stream.
* :func:`bound_rules` (the services): the rules for one claim, bound to that
  claim's history (from the stream's state) and provider role (looked up
  by the step or the servicer), passed to :meth:`Check.run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from claimscrub.core.checks import Check, Rules
from claimscrub.core.claim import Claim
from claimscrub.core.edits import CheckName, Edit
from claimscrub.core.payers import PayerPolicies
from claimscrub.necessity.beneficiary import beneficiary_token
from claimscrub.necessity.history import History, record_claim
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import ProviderRole, SyncRoleLookup, resolve_role_sync
from claimscrub.necessity.rules import check_necessity


def bound_rules(ref: NecessityReference, history: History | None, role: ProviderRole) -> Rules:
    return partial(check_necessity, ref=ref, history=history, role=role)


class BatchRules:
    """NECESSITY rules closing over one batch's beneficiary histories."""

    def __init__(
        self, ref: NecessityReference, key: bytes, lookup: SyncRoleLookup | None = None
    ) -> None:
        self.ref = ref
        self._key = key
        self._lookup = lookup
        self.histories: dict[str, History] = {}

    def __call__(self, claim: Claim) -> list[Edit]:
        token = beneficiary_token(claim, self._key)
        history = self.histories.get(token)
        role = resolve_role_sync(claim, self.ref, self._lookup)
        edits = check_necessity(claim, ref=self.ref, history=history, role=role)
        self.histories[token] = record_claim(history, claim, self.ref)
        return edits


def necessity_check(ref: NecessityReference, rules: Rules) -> Check:
    return Check(CheckName.NECESSITY, rules, ref.payers, ref.versions_for, ref)


def load_reference(
    ptp_files: Sequence[Path] = (),
    coverage_files: Sequence[Path] = (),
    payers_file: Path | None = None,
    code_status_files: Sequence[Path] = (),
    fee_schedule_files: Sequence[Path] = (),
    mue_file: Path | None = None,
    payers: PayerPolicies | None = None,
) -> NecessityReference:
    """``payers``: ``payers_file``'s policies when the caller loaded them already."""
    return NecessityReference.load(
        ptp_paths=ptp_files,
        coverage_paths=coverage_files,
        payers_path=payers_file,
        code_status_paths=code_status_files,
        fee_schedule_paths=fee_schedule_files,
        mue_path=mue_file,
        payers=payers,
    )


def load_batch_check(
    ptp_files: Sequence[Path],
    coverage_files: Sequence[Path],
    payers_file: Path | None,
    *,
    key: bytes,
    lookup: SyncRoleLookup | None = None,
    code_status_files: Sequence[Path] = (),
    fee_schedule_files: Sequence[Path] = (),
    mue_file: Path | None = None,
    payers: PayerPolicies | None = None,
) -> Check:
    """The CLI's NECESSITY check: bundled samples unless files are given."""
    ref = load_reference(
        ptp_files,
        coverage_files,
        payers_file,
        code_status_files,
        fee_schedule_files,
        mue_file,
        payers,
    )
    return necessity_check(ref, BatchRules(ref, key, lookup))
