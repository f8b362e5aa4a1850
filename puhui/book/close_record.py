"""The record of one partition's close, and its fingerprint on the journal's hash chain.

A loan's history is its events and the closes of its id range, in chain order, so a close
record is history, not a log line: edit its `events_seq` and every later replay of its loans
places the close elsewhere.  Each record is therefore attested on the journal (an entry with no
postings whose `attests` is the record's SHA-256), and `verify_close_records` checks every
stored record against its attestation.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any, Iterable, Mapping

#: The attestation kind of a close record on the journal.
CLOSE_RECORD = "book_close"


def close_record(day: date, lo: str, hi: str, events_seq: int, loans: int, plain: int,
                 failures: Iterable[str]) -> dict[str, Any]:
    """What a partition's close is: the day, the id range, where the event chain stood, how
    many loans it closed (plain ones from columns) and which it could not."""
    return {"business_date": day.isoformat(), "lo": lo, "hi": hi, "events_seq": events_seq,
            "loans": loans, "plain": plain, "failures": sorted(failures)}


def record_hash(record: Mapping[str, Any]) -> str:
    body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


__all__ = ["CLOSE_RECORD", "close_record", "record_hash"]
