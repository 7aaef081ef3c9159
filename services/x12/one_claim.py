"""One 837P claim as a one-claim interchange: what claims.ready carries for a
claim that came in as X12 (contract §6).

The intake service builds it when it reads the interchange (the only place
that still has the claim's segments) and sends it with the claim on
claims.submitted under :data:`ONE_CLAIM_HEADER`; the ready stage publishes
it as the claim's value once the claim is ready. It is built like
``scrub --ready-out``'s file (claimscrub.x12.writer: the claim's segments
copied, envelope, hierarchy and counts rebuilt) and validated by pyx12.
"""

from __future__ import annotations

import hashlib
import io

from claimscrub.x12.reader import Interchange, NotX12, SourceClaim
from claimscrub.x12.segments import Delimiters, Seg
from claimscrub.x12.writer import ReadyWriter

#: Header of a claims.submitted record from the intake: the claim as a
#: one-claim 837P interchange (PHI: claims.submitted is a clinical topic).
ONE_CLAIM_HEADER = "claimscrub-x12-claim"
#: The content type of an X12 interchange on a topic.
X12_CONTENT_TYPE = b"application/edi-x12"


class NotValid(ValueError):
    """The rebuilt interchange did not pass pyx12 (no claim values in the message)."""


def control_number(*parts: str) -> int:
    """A new interchange control number, the same whenever the same input
    claim is read again (so a replayed intake sends identical bytes)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 1_000_000_000


def one_claim_interchange(
    delimiters: Delimiters,
    isa: Seg,
    gs: Seg,
    set_header: tuple[Seg, ...],
    claim: SourceClaim,
    number: int,
) -> bytes:
    """The claim alone in an interchange of its own, validated."""
    out = io.StringIO()
    writer = ReadyWriter(out, delimiters, isa, gs, control_number=number)
    writer.add(set_header, claim)
    writer.close()
    text = out.getvalue()
    try:
        check = Interchange(io.StringIO(text))
        accepted = [t.accepted for t in check.sets()]
    except NotX12:
        raise NotValid("the one-claim interchange is not X12") from None
    if accepted != [True]:
        raise NotValid("the one-claim interchange did not validate")
    return text.encode("latin-1")
