"""Reading and recording the rate cap setting (`puhui.loans.caps`) in the database.

Every statement on `rate_cap_versions` and `lpr_publications` is here.  Recording validates
against the whole history first (`CapSchedule.check_new_version` / `check_new_lpr`: nothing
retroactive, nothing out of bounds), then inserts; the caller's transaction commits.  Two
operators recording at once are serialised on PostgreSQL by a transaction-scoped advisory lock
(SQLite has a single writer anyway), so both checks see each other's rows.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from puhui.loans.caps import CapKind, CapSchedule, CapVersion, LprPublication
from puhui.store.caps_models import LprPublicationRow, RateCapVersionRow
from puhui.store.prepared import PreparedStatement

#: pg_advisory_xact_lock key for changes to the cap setting ("RATECAP" in ASCII, as an int).
CAP_LOCK_ID = 0x52415445434150


_VERSIONS, _LPRS = RateCapVersionRow.__table__, LprPublicationRow.__table__


def _version(row: Any) -> CapVersion:
    return CapVersion(row.version, row.effective_from, CapKind(row.kind),
                      None if row.rate is None else Decimal(row.rate),
                      None if row.multiple is None else Decimal(row.multiple),
                      row.label, row.note, row.recorded_at, row.recorded_by)


def _lpr(row: Any) -> LprPublication:
    return LprPublication(row.id, Decimal(row.rate), row.published_on, row.effective_from,
                          row.recorded_at, row.recorded_by)


def load_cap_schedule(session: Session) -> CapSchedule:
    """Every cap version and LPR publication recorded, read in full (a handful of rows)."""
    versions = session.execute(select(_VERSIONS)).all()
    lprs = session.execute(select(_LPRS)).all()
    return CapSchedule([_version(r) for r in versions], [_lpr(r) for r in lprs])


#: The newest version number and LPR id: both tables are append-only (triggers refuse UPDATE
#: and DELETE), so this pair names their whole content.
_HEADS = PreparedStatement(select(
    select(func.max(_VERSIONS.c.version)).scalar_subquery(),
    select(func.max(_LPRS.c.id)).scalar_subquery()))
#: Schedules by database, with the heads they were read at.
_CACHED: dict[str, tuple[tuple[Any, Any], CapSchedule]] = {}


def current_cap_schedule(session: Session) -> CapSchedule:
    """The cap schedule as `load_cap_schedule` reads it, for the per-application path: one
    small query of the tables' heads, and the full read only when a row was added since (by
    this process or another), so a change is seen by the next request everywhere."""
    heads = tuple(_HEADS.first(session))
    where = str(session.get_bind().url)
    known = _CACHED.get(where)
    if known is not None and known[0] == heads:
        return known[1]
    schedule = load_cap_schedule(session)
    _CACHED[where] = (heads, schedule)
    return schedule


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CAP_LOCK_ID})


def record_cap_version(session: Session, draft: CapVersion, today: date, now: datetime,
                       recorded_by: str) -> CapVersion:
    """Store a new cap version (its `version` number assigned here) taking effect on
    `draft.effective_from`; `InvalidRateCap` if it would be retroactive."""
    _lock(session)
    load_cap_schedule(session).check_new_version(draft, today)
    version = session.execute(insert(RateCapVersionRow).values(
        effective_from=draft.effective_from, kind=draft.kind.value,
        rate=None if draft.rate is None else str(draft.rate),
        multiple=None if draft.multiple is None else str(draft.multiple),
        label=draft.label, note=draft.note, recorded_at=now, recorded_by=recorded_by,
    ).returning(RateCapVersionRow.version)).scalar_one()
    return _version(session.execute(select(_VERSIONS).where(_VERSIONS.c.version == version)).one())


def record_lpr(session: Session, draft: LprPublication, today: date, now: datetime,
               recorded_by: str) -> LprPublication:
    """Store an LPR publication taking effect on `draft.effective_from`; `InvalidRateCap` if
    it is not published yet or would be retroactive."""
    _lock(session)
    load_cap_schedule(session).check_new_lpr(draft, today)
    lpr_id = session.execute(insert(LprPublicationRow).values(
        rate=str(draft.rate), published_on=draft.published_on,
        effective_from=draft.effective_from, recorded_at=now, recorded_by=recorded_by,
    ).returning(LprPublicationRow.id)).scalar_one()
    return _lpr(session.execute(select(_LPRS).where(_LPRS.c.id == lpr_id)).one())
