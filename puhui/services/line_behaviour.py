"""Credit lines' repayment behaviour in bulk: the facts the line policy reads
(`on_time_months`, `days_past_due`, `missed_instalments_6m`) for a whole book of lines.

Why: a line's record is its loans' instalments with the day each was fully settled, which only
the loan's history can tell (`puhui.book.history.settlement_history`), and replaying a loan costs
milliseconds: too much for 200,000 lines every refresh.  So each loan's record is kept in the
settlement cache (`puhui.store.settlement_repo`) with the point of its history it was computed
at; a refresh reads the lines' loans and their rows in a few statements, replays only the loans
whose row is missing, stale or fails its digest (and writes their rows again), and computes the
facts for all lines at once (`puhui.lines.behaviour.facts_of_lines`).  The history stays the
record of truth: the result is exactly `repayment_facts(repayments_of(session, line), today,
since)` line for line, and a row that is not provably of the loan's current history is never
used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from puhui.book.loan_book import settlement_record
from puhui.lines.behaviour import (NOT_SETTLED, PAIR_BYTES, as_dicts, day_number, decode_dues,
                                   encode_dues, facts_of_lines)
from puhui.lines.policy import InvalidLineFacts
from puhui.runtime import collector_paused
from puhui.store import line_decision_repo
from puhui.store import line_repo
from puhui.store import settlement_repo


def settlements_of(session: Session, loan_ids: Sequence[str], *,
                   remember: bool = True) -> dict[str, bytes]:
    """Each loan's encoded (due, settled on) pairs (`puhui.lines.behaviour.encode_dues`), from
    the settlement cache where its row is of the loan's history as it stands, replayed from the
    history otherwise; the replayed rows are written back in the caller's transaction unless
    `remember` is False or the session is read-only (then they are only used).  A loan that
    does not exist raises `InvalidEvent`, as replaying it would."""
    out, stale = settlement_repo.fresh_dues(session, loan_ids)
    broken = [loan_id for loan_id, blob in out.items() if len(blob) % PAIR_BYTES]
    for loan_id in broken:  # not whole pairs: not an encoding (the digest should have caught it)
        del out[loan_id]
        stale.append(loan_id)
    rows = []
    for loan_id in stale:
        record = settlement_record(session, loan_id)
        dues = encode_dues(record.dues)
        out[loan_id] = dues
        rows.append((loan_id, record.version, record.closed_through, record.awaits_close, dues))
    for loan_id in loan_ids:
        if loan_id not in out:
            settlement_record(session, loan_id)  # no such loan: raises InvalidEvent
    if remember and rows and settlement_repo.writable(session):
        settlement_repo.save(session, rows)
    return out


def loan_dues(session: Session, loan_ids: Sequence[str], *,
              remember: bool = True) -> dict[str, list[tuple[date, date | None]]]:
    """`instalment_settlements` of each loan, through the settlement cache."""
    return {loan_id: decode_dues(blob)
            for loan_id, blob in settlements_of(session, loan_ids, remember=remember).items()}


def behaviour_of(session: Session, lines: Sequence[Any], today: date,
                 since: Mapping[str, date | None], *,
                 remember: bool = True) -> dict[str, dict[str, int]]:
    """For each line (anything with a `line_id`: a `CreditLine`), the three behaviour facts:
    exactly `repayment_facts(repayments_of(session, line), today, since[line_id])`.

    `since` must name every line (None: every month counts); a line it leaves out is refused
    with `InvalidLineFacts` before anything is read."""
    ids = list(dict.fromkeys(line.line_id for line in lines))
    missing = [line_id for line_id in ids if line_id not in since]
    if missing:
        raise InvalidLineFacts(f"no `since` given for the lines {missing[:5]}"
                               f"{' and more' if len(missing) > 5 else ''}")
    with collector_paused():  # hundreds of thousands of small objects, none of them cyclic
        return _behaviour(session, ids, today, since, remember)


def _behaviour(session: Session, ids: list[str], today: date, since: Mapping[str, date | None],
               remember: bool) -> dict[str, dict[str, int]]:
    loans = line_repo.loans_of_lines(session, ids)
    blobs = settlements_of(session, [loan_id for line_id in ids for loan_id in loans[line_id]],
                           remember=remember)
    parts: list[bytes] = []
    counts: list[int] = []
    for line_id in ids:
        n = 0
        for loan_id in loans[line_id]:
            blob = blobs[loan_id]
            parts.append(blob)
            n += len(blob)
        counts.append(n // PAIR_BYTES)
    days = np.frombuffer(b"".join(parts), dtype="<i4").reshape(-1, 2)
    owner = np.repeat(np.arange(len(ids), dtype=np.int64), np.asarray(counts, dtype=np.int64))
    starts = np.asarray([NOT_SETTLED if (s := since[line_id]) is None else day_number(s)
                         for line_id in ids], dtype=np.int64)
    facts = facts_of_lines(owner, days[:, 0], days[:, 1], len(ids), today, starts)
    return dict(zip(ids, as_dicts(facts, len(ids))))


def since_of(session: Session, lines: Sequence[Any]) -> dict[str, date]:
    """Where each line's on-time months start: its latest re-pricing, or its opening when it
    was never re-priced (as `reevaluation.reevaluate_applicant` takes it)."""
    repriced = line_decision_repo.last_repriced(session, [line.line_id for line in lines])
    return {line.line_id: max(d for d in (repriced.get(line.line_id), line.opened_on) if d)
            for line in lines}


__all__ = ["behaviour_of", "loan_dues", "settlements_of", "since_of"]
