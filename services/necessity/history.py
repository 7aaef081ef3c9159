"""What the necessity check remembers per beneficiary, and the pure step that updates it.

A beneficiary's history is a small JSON-able dict, so it lives in the stream
engine's state (RocksDB and its changelog) in the service and in a plain dict
in the CLI:

    {"v": 1,
     "claims": {claimId: {"amounts": {"2026/PT_SLP": "150.00"},
                          "incomplete": ["2026/OT"],
                          "days": {"PT": ["2026-05-04"]},
                          "lines": [[1, "1234567893", "2026-05-04", "97110", ["GP"], 2]]}},
     "progress": {"PT": {"through": "2026-05-04", "days": 4, "claim": claimId}}}

* ``claims`` holds each claim's own contribution: therapy amounts per year
  and threshold group (each line as the KX rule counts it,
  :func:`~claimscrub.necessity.accrual.line_accrual`), the year/groups where
  a line had no amount at all (so later claims know the sum is a lower
  bound), treatment days per discipline, and every service line as the
  cross-claim edits compare it (:class:`PastLine`: line number, rendering
  NPI, date of service, code, modifiers, units). Totals are summed
  over the *other* claims, so a redelivered or resubmitted claim (same
  claimId) replaces its entry instead of counting twice.
* ``progress`` anchors the progress-report count per discipline at the last
  claim that reported ``treatmentDaysSinceProgressReport``, so a later claim
  without the field is counted on from there.
* ``migrated`` (only after a key rotation) lists the claims whose entry is
  the copy a rotation carried over from the previous key's token
  (necessity/rekey.py), so a later copy may replace it while a claim
  recorded here again is never replaced by one.

The year-to-date amount a rule sees is the group's eligibility figure
(``therapy.amountUsedYtdPtSlp`` / ``amountUsedYtdOt``, before this claim)
plus the other claims recorded here for that year and group: the claims
eligibility has not yet seen. A line counts its allowed amount, else the fee
schedule's, else its charge (charges are at least the allowed amount, so
thresholds are then reached early rather than late).
Lines are kept while their date of service is within the reference's
``line_history_days`` of the newest one recorded (the filing window,
``thresholds.json``).
Dates are kept because treatment days are counted by date. What is stored
(the state and its changelog topic) is :func:`seal`-ed: every date moved back
by a per-beneficiary keyed number of days (:func:`date_shift`), so the
changelog carries no real date of service while intervals between a
beneficiary's dates, which is all the rules use, stay exact. Rules always see
the :func:`unseal`-ed history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from claimscrub.core.claim import Claim
from claimscrub.necessity.accrual import claim_accruals
from claimscrub.necessity.beneficiary import token_key_id
from claimscrub.necessity.lines import line_roles
from claimscrub.necessity.reference import NecessityReference
from claimscrub.runtime.keyring import Keyring

History = dict[str, Any]

#: Claims kept per beneficiary: older years are pruned first, then the oldest
#: claims, so one beneficiary's state stays a few kilobytes.
MAX_CLAIMS = 400
#: Calendar years kept besides the newest one seen (KX amounts are per year).
YEARS_KEPT = 1


_ZERO = Decimal(0)  # immutable: one object serves every sum


def empty() -> History:
    return {"v": 1, "claims": {}, "progress": {}}


_EMPTY: Mapping[str, Any] = MappingProxyType(empty())


# --- what a claim contributes ---------------------------------------------------


def _key(year: int, group: str) -> str:
    return f"{year}/{group}"


class PastLine(NamedTuple):
    """A service line of an earlier claim of the beneficiary, as the cross-claim edits see it."""

    claim_id: str
    line_number: int
    npi: str
    date_of_service: dt.date
    code: str
    #: upper-cased and sorted: the order modifiers are listed in does not matter
    modifiers: tuple[str, ...]
    units: int


def rendering_npi(claim: Claim) -> str:
    return (claim.rendering_provider.npi if claim.rendering_provider else None) or ""


# Normalised modifiers per modifiers as given: a billing run uses a handful of
# combinations. Bounded by clearing.
_MODIFIERS: dict[tuple[str, ...], tuple[str, ...]] = {}
_MODIFIERS_MAX = 4_096


def line_modifiers(modifiers: tuple[str, ...]) -> tuple[str, ...]:
    if not modifiers:
        return ()
    found = _MODIFIERS.get(modifiers)
    if found is None:
        if len(_MODIFIERS) >= _MODIFIERS_MAX:
            _MODIFIERS.clear()
        found = _MODIFIERS[modifiers] = tuple(sorted([m.strip().upper() for m in modifiers]))
    return found


def contribution(claim: Claim, ref: NecessityReference) -> dict[str, Any]:
    """What ``claim`` adds to its beneficiary's history, in the layout the module
    docstring shows. Sequences are tuples (the same JSON as lists): a tuple of
    strings and numbers is one object the cycle collector stops walking, and
    the CLI keeps every beneficiary's history of a batch in memory."""
    amounts: dict[str, Decimal] = {}
    incomplete: set[str] = set()
    days: dict[str, set[str]] = {}
    npi = rendering_npi(claim)
    stored: list[tuple[int, str, str, str, tuple[str, ...], int]] = []
    # Each date's text once: a claim's lines mostly share one or two dates.
    iso: dict[dt.date, str] = {}
    for line, accrual, role in zip(
        claim.service_lines, claim_accruals(claim, ref), line_roles(claim, ref), strict=True
    ):
        dos = line.date_of_service
        text = iso.get(dos)
        if text is None:
            text = iso[dos] = dos.isoformat()
        stored.append(
            (
                line.line_number,
                npi,
                text,
                line.procedure_code.strip().upper(),
                line_modifiers(line.modifiers),
                line.units,
            )
        )
        discipline = role.discipline
        if not role.therapy or discipline is None:
            continue
        days.setdefault(discipline, set()).add(text)
        group = role.group
        if group is None:
            continue
        key = _key(dos.year, group)
        amount = accrual.amount
        if amount is None:
            incomplete.add(key)
        else:
            amounts[key] = amounts.get(key, _ZERO) + amount
    out: dict[str, Any] = {
        "amounts": {k: str(amounts[k]) for k in sorted(amounts)},
        "days": {k: tuple(sorted(days[k])) for k in sorted(days)},
    }
    if incomplete:
        out["incomplete"] = tuple(sorted(incomplete))
    out["lines"] = tuple(stored)
    return out


# --- reading --------------------------------------------------------------------


def _others(history: History | None, claim_id: str) -> list[Mapping[str, Any]]:
    if not history:
        return []
    return [c for cid, c in history.get("claims", {}).items() if cid != claim_id]


def seen_amount(history: History | None, year: int, group: str, claim_id: str) -> Decimal:
    """Therapy amounts of the other recorded claims for ``year`` and ``group``."""
    if not history:
        return _ZERO
    key = _key(year, group)
    return sum(
        (Decimal(c.get("amounts", {}).get(key, "0")) for c in _others(history, claim_id)),
        _ZERO,
    )


def seen_incomplete(history: History | None, year: int, group: str, claim_id: str) -> bool:
    """Whether another recorded claim had a ``year``/``group`` line with no amount."""
    if not history:
        return False
    key = _key(year, group)
    return any(key in c.get("incomplete", ()) for c in _others(history, claim_id))


def seen_days(history: History | None, discipline: str, claim_id: str) -> set[dt.date]:
    """Treatment dates of ``discipline`` on the other recorded claims."""
    out: set[dt.date] = set()
    for c in _others(history, claim_id):
        out.update(dt.date.fromisoformat(d) for d in c.get("days", {}).get(discipline, ()))
    return out


def seen_lines(history: History | None, claim_id: str) -> list[PastLine]:
    """The lines of the claims recorded before ``claim_id`` was first recorded (all
    recorded claims when it never was), in the order they were recorded.

    A claim keeps its place when recorded again (:func:`record_claim`), so a
    redelivered or corrected claim is compared with the claims that came
    before it, never with those that came after: it gets the same edits again.
    """
    if not history:
        return []
    out: list[PastLine] = []
    for cid, c in history.get("claims", {}).items():
        if cid == claim_id:
            break
        out.extend(
            PastLine(
                cid, int(n), str(npi), dt.date.fromisoformat(d), str(code), tuple(mods), int(u)
            )
            for n, npi, d, code, mods, u in c.get("lines", ())
        )
    return out


def progress_anchor(
    history: History | None, discipline: str, claim_id: str
) -> tuple[dt.date, int] | None:
    """(through date, treatment days since the last progress report) from an earlier claim."""
    if not history:
        return None
    anchor = history.get("progress", {}).get(discipline)
    if not anchor or anchor.get("claim") == claim_id:
        return None
    return dt.date.fromisoformat(anchor["through"]), int(anchor["days"])


# --- the update -------------------------------------------------------------------


def reported_discipline(claim: Claim, ref: NecessityReference) -> str | None:
    """The discipline ``treatmentDaysSinceProgressReport`` counts: the claim's
    ``therapy.discipline``, else the one discipline of its therapy lines."""
    if claim.therapy and claim.therapy.discipline in ref.groups:
        return claim.therapy.discipline
    disciplines = {role.discipline for role in line_roles(claim, ref) if role.therapy}
    disciplines.discard(None)
    return disciplines.pop() if len(disciplines) == 1 else None


def record_claim(history: History | None, claim: Claim, ref: NecessityReference) -> History:
    """The history with ``claim`` recorded (replacing an earlier version of it, in its
    place: the order of first recording is the order :func:`seen_lines` reads)."""
    current = history or _EMPTY
    claims = dict(current["claims"]) if current.get("claims") else {}
    mine = contribution(claim, ref)
    claims[claim.claim_id] = mine
    progress = dict(current["progress"]) if current.get("progress") else {}
    reported = claim.therapy.treatment_days_since_progress_report if claim.therapy else None
    discipline = reported_discipline(claim, ref)
    if reported is not None and discipline is not None:
        own_days = mine["days"].get(discipline, [])
        if own_days:
            progress[discipline] = {
                "through": own_days[-1],
                "days": reported + len(own_days),
                "claim": claim.claim_id,
            }
    out: History = {"v": 1, "claims": _pruned(claims, ref.line_history_days), "progress": progress}
    migrated = current.get("migrated")
    if migrated:
        # Recorded here, the claim is no longer the copy a key rotation brought
        # (necessity/rekey.py): a later migration does not replace it.
        kept = [cid for cid in migrated if cid != claim.claim_id and cid in out["claims"]]
        if kept:
            out["migrated"] = kept
    return out


def _latest(c: Mapping[str, Any]) -> str:
    dates: list[str] = [d for ds in c.get("days", {}).values() for d in ds]
    dates.extend(line[2] for line in c.get("lines", ()))
    years: list[str] = [k.split("/")[0] for k in c.get("amounts", {})]
    return max(dates or [f"{y}-01-01" for y in years] or ["0000-00-00"])


def _without_old_lines(claims: dict[str, Any], days: int) -> dict[str, Any]:
    dates = [line[2] for c in claims.values() for line in c.get("lines", ())]
    if not dates:
        return claims
    oldest, latest = min(dates), max(dates)
    if oldest == latest and days >= 0:
        return claims  # one date (the usual claim's): nothing older than the newest
    newest = dt.date.fromisoformat(latest)
    # A window reaching before year 1 keeps every line (date arithmetic would overflow).
    if newest.toordinal() <= days:
        return claims
    horizon = (newest - dt.timedelta(days=days)).isoformat()
    if oldest >= horizon:
        return claims  # the usual case: every line within the window
    out: dict[str, Any] = {}
    for cid, c in claims.items():
        lines = c.get("lines")
        if lines and any(line[2] < horizon for line in lines):
            c = {**c, "lines": tuple(line for line in lines if line[2] >= horizon)}
        out[cid] = c
    return out


def _pruned(claims: dict[str, Any], line_days: int) -> dict[str, Any]:
    if not claims:
        return claims
    claims = _without_old_lines(claims, line_days)
    if len(claims) == 1:
        return claims  # a lone claim is in the newest year and within MAX_CLAIMS
    # Each claim's latest date once: a beneficiary's history holds up to MAX_CLAIMS.
    latest = {cid: _latest(c) for cid, c in claims.items()}
    newest_year = max(int(d[:4]) for d in latest.values())
    kept = {cid: c for cid, c in claims.items() if int(latest[cid][:4]) >= newest_year - YEARS_KEPT}
    if len(kept) > MAX_CLAIMS:
        by_age = sorted(kept, key=lambda cid: latest[cid], reverse=True)
        newest = set(by_age[:MAX_CLAIMS])
        # In recording order still: seen_lines reads it.
        kept = {cid: c for cid, c in kept.items() if cid in newest}
    return kept


# --- storage: dates shifted by a keyed per-beneficiary offset --------------------

#: Shifts fall in 1..11 years back, so a stored date is never the real one.
_MIN_SHIFT_DAYS = 365
_SHIFT_SPAN_DAYS = 3653


def date_shift(token: str, key: bytes | Keyring) -> int:
    """Days every stored date of this beneficiary is moved back (keyed, per token).

    With a keyring, the key is the one the token names (necessity.beneficiary):
    a history moved to another key's token gets that token's shift.
    """
    if isinstance(key, Keyring):
        key = key.get(token_key_id(token, key)).reveal()
    digest = hmac.new(key, b"necessity-date-shift\x1f" + token.encode(), hashlib.sha256).digest()
    return _MIN_SHIFT_DAYS + int.from_bytes(digest[:4], "big") % _SHIFT_SPAN_DAYS


def _move(history: History, days: int) -> History:
    def move(d: str) -> str:
        return (dt.date.fromisoformat(d) + dt.timedelta(days=days)).isoformat()

    return _map_dates(history, move)


def _map_dates(history: History, move: Callable[[str], str]) -> History:
    """``history`` with every date moved, in :func:`contribution`'s layout (tuples),
    whether it was read from JSON (lists) or built in memory."""
    claims = {
        cid: {
            "amounts": dict(c.get("amounts", {})),
            **({"incomplete": tuple(c["incomplete"])} if c.get("incomplete") else {}),
            "days": {k: tuple([move(d) for d in v]) for k, v in c.get("days", {}).items()},
            **(
                {
                    "lines": tuple(
                        (n, npi, move(d), code, tuple(mods), units)
                        for n, npi, d, code, mods, units in c["lines"]
                    )
                }
                if "lines" in c
                else {}
            ),
        }
        for cid, c in history.get("claims", {}).items()
    }
    progress = {
        k: {**p, "through": move(p["through"])} for k, p in history.get("progress", {}).items()
    }
    out: History = {"v": history.get("v", 1), "claims": claims, "progress": progress}
    if history.get("migrated"):
        out["migrated"] = list(history["migrated"])
    return out


def seal(history: History, shift: int) -> History:
    """The history as stored: every date ``shift`` days earlier."""
    return _move(history, -shift)


def unseal(history: History | None, shift: int) -> History | None:
    """The stored history with its real dates back, for the rules."""
    return None if history is None else _move(history, shift)
