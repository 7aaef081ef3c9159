"""The publishing step's memory: what was published, and who owns a fingerprint.

Completed claim versions reach the publishing step keyed by their duplicate
fingerprint (``claim:<claimId>`` when the claim has none), so every claim with
the same services lands on one key, in one partition, in one instance. After
a key rotation they travel under the fingerprint of the ring's oldest key
(:func:`routing_key`) and the entry is written under the current key's
fingerprint; a claim first seen under an earlier key is found under that
key's fingerprint (:func:`lookup`). The ledger entry of a key, a JSON-able
dict in the publish step's store::

    {"p": 2, "owner": "CLM-1", "firstMs": ...,
     "published": {"CLM-1": {version: [atMs, incarnation]}, "CLM-9": {...}}}

* the **owner** is the first claimId published with the fingerprint; any other
  claimId with it gets DUPLICATE_CLAIM (claimscrub.core.duplicates);
* **published** marks make publication once per (claimId, version). A
  revision 1 that carried CHECK_INCOMPLETE also marks :func:`incomplete_version`:
  a complete result of that version arriving as revision 1 afterwards is its
  revision 2 (:func:`publish_as`).

A mark is written right after the result is sent, but the two are separate
Kafka records: a process killed between them can leave a result without its
mark (the replayed input would publish it again) or, with several brokers, a
mark without its result (the replay would skip it and lose the claim). So a
mark is trusted only when it was written by this incarnation of the process
or before ``trusted_before_ms``: the earliest time a replayed input could
have been first processed. Younger marks of an earlier incarnation are checked
against ``recovered``: the (claimId, version) pairs actually on
claims.scrubbed since then (claimscrub.aggregator.recovery reads them back
at every partition assignment). See docs/aggregator.md.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimscrub.core.duplicates import duplicate_edits
from claimscrub.core.edits import Edit

Entry = dict[str, Any]

#: ClaimIds remembered per fingerprint besides the owner. Normally one or two;
#: a platform resending everything under new ids must not grow one entry (and
#: every changelog write of it) without bound. The oldest are forgotten first:
#: a redelivery of a forgotten one would get a second result.
MAX_CLAIMS_PER_FINGERPRINT = 256


def ledger_key(fingerprint: str, claim_id: str) -> str:
    return fingerprint if fingerprint else f"claim:{claim_id}"


def routing_key(fingerprint: str, earlier: Sequence[str], claim_id: str) -> str:
    """The key a completed version travels to the publish step under.

    The fingerprint under the keyring's oldest key (``earlier`` is newest
    first): the oldest key stays in the ring for good (docs/operations.md), so
    a claim's entries under every key of the ring are in one partition's
    store, where :func:`lookup` finds them. With one key, the fingerprint."""
    if fingerprint and earlier:
        return earlier[-1]
    return ledger_key(fingerprint, claim_id)


def lookup(current: Entry | None, earlier: Sequence[Entry | None]) -> Entry | None:
    """The entry to decide on: the one under the current key's fingerprint;
    without one, a new entry owned by the owner under the newest earlier key
    that has an entry (the claim seen before a key rotation). Marks are not
    carried over: claim versions are keyed too, so none can match."""
    if current is not None:
        return current
    for entry in earlier:
        if isinstance(entry, dict) and entry.get("owner"):
            return {
                "p": entry.get("p", 0),
                "owner": entry["owner"],
                "firstMs": entry.get("firstMs", 0),
                "published": {},
            }
    return None


def published_version(version: str, revision: int) -> str:
    """What a mark and the read-back name a result by: its claim version, and
    the revision after the first (a late verdict's revision 2 is published
    once too, beside revision 1)."""
    return version if revision <= 1 else f"{version}#{revision}"


def incomplete_version(version: str) -> str:
    """What a mark and the read-back name the fact that revision 1 of a claim
    version went out with CHECK_INCOMPLETE."""
    return f"{version}!"


def published_names(version: str, revision: int, *, incomplete: bool) -> list[str]:
    """The names one published result is known by (marks and read-back alike)."""
    names = [published_version(version, revision)]
    if revision <= 1 and incomplete:
        names.append(incomplete_version(version))
    return names


@dataclass(slots=True)
class Trust:
    """What this process may take a published mark's word for."""

    incarnation: str
    #: Marks of earlier incarnations older than this were followed by their result.
    trusted_before_ms: int = 2**62
    #: (claimId, version) pairs read back from claims.scrubbed.
    recovered: Collection[tuple[str, str]] = field(default_factory=frozenset)


def published_by(entry: Entry | None, claim_id: str, version: str, trust: Trust) -> str | None:
    """Why this version counts as published: ``"mark"`` (a trusted mark),
    ``"readback"`` (on claims.scrubbed, whatever the marks say), or None."""
    mark = (entry or {}).get("published", {}).get(claim_id, {}).get(version)
    if mark is not None:
        at_ms, incarnation = int(mark[0]), str(mark[1])
        if incarnation == trust.incarnation or at_ms < trust.trusted_before_ms:
            return "mark"
    if (claim_id, version) in trust.recovered:
        return "readback"
    return None


def was_published(entry: Entry | None, claim_id: str, version: str, trust: Trust) -> bool:
    return published_by(entry, claim_id, version, trust) is not None


def publish_as(
    entry: Entry | None,
    claim_id: str,
    version: str,
    *,
    revision: int,
    incomplete: bool,
    trust: Trust,
) -> int:
    """The revision to publish a claim version's result as.

    The collect step forwards revision 2 itself when the missing verdicts
    arrive (aggregator.state). But a process killed right after a timeout
    loses the timed-out state with its uncommitted checkpoint while the
    CHECK_INCOMPLETE result is already out; the restarted process then
    completes the version from the replayed and late verdicts as revision 1.
    Such a complete result, after a published CHECK_INCOMPLETE revision 1,
    is the version's revision 2."""
    if revision != 1 or incomplete:
        return revision
    return 2 if published_by(entry, claim_id, incomplete_version(version), trust) else 1


@dataclass(frozen=True, slots=True)
class Decision:
    #: None: already published, nothing to send and nothing to write.
    edits: list[Edit] | None
    entry: Entry
    #: When already published: "mark" or "readback" (see :func:`published_by`).
    skipped_by: str = ""


def decide(
    entry: Entry | None,
    claim_id: str,
    version: str,
    *,
    fingerprinted: bool,
    now_ms: int,
    partition: int,
    trust: Trust,
    incomplete_of: str = "",
) -> Decision:
    """Publish this version (with which extra edits), or skip it as already
    published. ``incomplete_of``: the claim version, when this is its
    revision 1 with CHECK_INCOMPLETE (marked for :func:`publish_as`)."""
    current: Entry = entry or {"p": partition, "owner": "", "firstMs": now_ms, "published": {}}
    by = published_by(current, claim_id, version, trust)
    if by is not None:
        return Decision(None, current, by)
    owner = current.get("owner") or claim_id
    edits = duplicate_edits(owner, claim_id) if fingerprinted else []
    published = dict(current.get("published", {}))
    mark = [now_ms, trust.incarnation]
    marks = {version: mark}
    if incomplete_of:
        marks[incomplete_version(incomplete_of)] = mark
    published[claim_id] = {**published.get(claim_id, {}), **marks}
    if len(published) > MAX_CLAIMS_PER_FINGERPRINT + 1:
        others = sorted(
            (cid for cid in published if cid != owner),
            key=lambda cid: max(int(m[0]) for m in published[cid].values()),
        )
        for cid in others[: len(published) - MAX_CLAIMS_PER_FINGERPRINT - 1]:
            del published[cid]
    return Decision(edits, {**current, "p": partition, "owner": owner, "published": published})


def prune(entry: Entry, *, now_ms: int, retention_ms: int) -> Entry | None:
    """Forget marks older than the retention; None when nothing is left (delete the key)."""
    horizon = now_ms - retention_ms
    published: dict[str, dict[str, list[Any]]] = {}
    for claim_id, versions in entry.get("published", {}).items():
        kept = {v: m for v, m in versions.items() if int(m[0]) > horizon}
        if kept:
            published[claim_id] = kept
    if not published:
        return None
    return {**entry, "published": published}


def oldest_mark_ms(entry: Entry) -> int:
    return min(
        (int(m[0]) for versions in entry.get("published", {}).values() for m in versions.values()),
        default=0,
    )
