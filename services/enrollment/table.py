"""The enrollment table: the compacted topic providers.enrollment, materialised.

Like a Kafka Streams global table, every instance holds every record (a
claim's providers can be anyone, whichever claim partition it consumes), and
the table is rebuilt by reading the compacted topic from the beginning. The
CLI fills the same class from ``--enrollment FILE``, so the rules read one
interface in both places.

An update that cannot be read *removes* the key's record instead of keeping
the previous one: its provider then reads as not enrolled (a HOLD a person
looks at) rather than passing on data that was meant to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from claimscrub.enrollment.records import (
    EnrollmentRecord,
    RecordError,
    decode_record,
    record_key,
)


class Outcome(StrEnum):
    APPLIED = "applied"
    DELETED = "deleted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class EventResult:
    outcome: Outcome
    reason: str = ""


class EnrollmentTable:
    """``npi:payerId`` → record, plus which payers each NPI has records with."""

    def __init__(self, records: Iterable[EnrollmentRecord] = ()) -> None:
        self._records: dict[str, EnrollmentRecord] = {}
        self._payers_by_npi: dict[str, set[str]] = {}
        for record in records:
            self.put(record)

    def __len__(self) -> int:
        return len(self._records)

    def get(self, npi: str, payer_id: str) -> EnrollmentRecord | None:
        return self._records.get(record_key(npi, payer_id))

    def other_payers(self, npi: str, payer_id: str) -> int:
        """How many other payers this NPI has a record with."""
        payers = self._payers_by_npi.get(npi.strip(), set())
        return len(payers - {record_key(npi, payer_id).split(":", 1)[1]})

    def put(self, record: EnrollmentRecord) -> None:
        self._records[record.key] = record
        self._payers_by_npi.setdefault(record.npi, set()).add(record.payer_id)

    def delete(self, key: str) -> bool:
        record = self._records.pop(key, None)
        if record is None:
            return False
        payers = self._payers_by_npi.get(record.npi)
        if payers is not None:
            payers.discard(record.payer_id)
            if not payers:
                del self._payers_by_npi[record.npi]
        return True

    def apply_event(self, key: bytes | None, value: bytes | None) -> EventResult:
        """Apply one event of providers.enrollment (a ``None`` value is a tombstone)."""
        text = (key or b"").decode("utf-8", "replace").strip()
        npi, sep, payer = text.partition(":")
        if not sep or not npi or not payer.strip():
            return EventResult(Outcome.REJECTED, "key is not npi:payerId")
        table_key = record_key(npi, payer)
        if value is None:
            self.delete(table_key)
            return EventResult(Outcome.DELETED)
        try:
            record = decode_record(value)
        except RecordError as exc:
            self.delete(table_key)
            return EventResult(Outcome.REJECTED, str(exc))
        if record.key != table_key:
            self.delete(table_key)
            return EventResult(Outcome.REJECTED, "key does not match the record's npi:payerId")
        self.put(record)
        return EventResult(Outcome.APPLIED)
