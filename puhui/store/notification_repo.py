"""The notifications' statements: the outbox, claims of a due notification, the delivery log,
contacts.  Everything works in the caller's session; the caller commits.

A claim is one conditional UPDATE (`status` moves to `sending` only from the state the claimer
read), so of two dispatchers that see the same due notification exactly one sends it.  How an
attempt ended is written only by the claim that made it (`attempts` must still match), so a
dispatcher whose claim was taken over after its lease records nothing over the new one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Iterator, Mapping, Sequence, cast

from sqlalchemy import CursorResult, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from puhui.store.notification_models import (NotificationContactRow, NotificationDeliveryRow,
                                             NotificationRow)
from puhui.store.scoping import Visibility, narrowed

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
ABANDONED, NOT_CONFIGURED, CAPPED, NO_ADDRESS = "abandoned", "not_configured", "capped", \
    "no_address"
STATUSES = (PENDING, SENDING, SENT, FAILED, ABANDONED, NOT_CONFIGURED, CAPPED, NO_ADDRESS)
#: States from which a notification is still to be sent.
OPEN = (PENDING, FAILED)


def keys_recorded(session: Session, key: str) -> bool:
    """Whether any notification was recorded under `key`."""
    return session.execute(select(NotificationRow.notification_id)
                           .where(NotificationRow.key == key).limit(1)).first() is not None


def keys_recorded_among(session: Session, keys: Sequence[str]) -> set[str]:
    """Those of `keys` under which some notification was recorded (chunks of 500 keys per
    statement): `keys_recorded` for many keys at once."""
    wanted, out = sorted(set(keys)), set()
    for start in range(0, len(wanted), 500):
        out.update(session.execute(select(NotificationRow.key).distinct().where(
            NotificationRow.key.in_(wanted[start:start + 500]))).scalars())
    return out


def add(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.execute(insert(NotificationRow), list(rows))


def scheduled_in(session: Session, applicant_id: str, start: datetime,
                 end: datetime) -> list[tuple[str, str, datetime]]:
    """(key, kind, not_before) of the applicant's notifications admitted to go out in
    [start, end) (everything but those refused by the cap or with no address)."""
    rows = session.execute(
        select(NotificationRow.key, NotificationRow.kind, NotificationRow.not_before)
        .where(NotificationRow.applicant_id == applicant_id,
               NotificationRow.not_before >= start, NotificationRow.not_before < end,
               NotificationRow.status.not_in((CAPPED, NO_ADDRESS))))
    return [(k, kind, at) for k, kind, at in rows]


def due_ids(session: Session, now: datetime, lease: timedelta, limit: int) -> list[str]:
    """Notifications that may be sent at `now`: open and due, or `sending` under a claim older
    than `lease` (its dispatcher died mid-send), oldest due first."""
    query = (select(NotificationRow.notification_id)
             .where(or_(and_(NotificationRow.status.in_(OPEN), NotificationRow.not_before <= now),
                        and_(NotificationRow.status == SENDING,
                             NotificationRow.claimed_at <= now - lease)))
             .order_by(NotificationRow.not_before, NotificationRow.notification_id).limit(limit))
    return list(session.execute(query).scalars())


def claim(session: Session, notification_id: str, now: datetime,
          lease: timedelta) -> NotificationRow | None:
    """Take `notification_id` for one attempt (status `sending`, attempts + 1), or None if it
    is not (or no longer) due: another dispatcher has it, or it went out."""
    result = session.execute(
        update(NotificationRow)
        .where(NotificationRow.notification_id == notification_id,
               or_(and_(NotificationRow.status.in_(OPEN), NotificationRow.not_before <= now),
                   and_(NotificationRow.status == SENDING,
                        NotificationRow.claimed_at <= now - lease)))
        .values(status=SENDING, claimed_at=now, attempts=NotificationRow.attempts + 1)
        .execution_options(synchronize_session=False))
    if cast(CursorResult[Any], result).rowcount != 1:
        return None
    return session.execute(select(NotificationRow).where(
        NotificationRow.notification_id == notification_id)
        .execution_options(populate_existing=True)).scalar_one()


def record_attempt(session: Session, *, delivery_id: str, notification_id: str, attempt: int,
                   channel: str, recipient_masked: str, outcome: str, error: str | None,
                   channel_message_id: str | None, started_at: datetime, finished_at: datetime,
                   status: str, not_before: datetime | None) -> bool:
    """Log attempt `attempt` and move the notification to `status`; False (nothing written)
    if the claim was taken over meanwhile."""
    values: dict[str, Any] = {"status": status, "last_error": error, "claimed_at": None}
    if status == "sent":
        values.update(sent_at=finished_at, channel_message_id=channel_message_id)
    if not_before is not None:
        values["not_before"] = not_before
    result = session.execute(
        update(NotificationRow)
        .where(NotificationRow.notification_id == notification_id,
               NotificationRow.status == SENDING, NotificationRow.attempts == attempt)
        .values(**values).execution_options(synchronize_session=False))
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    session.execute(insert(NotificationDeliveryRow).values(
        delivery_id=delivery_id, notification_id=notification_id, attempt=attempt,
        channel=channel, recipient_masked=recipient_masked, outcome=outcome, error=error,
        channel_message_id=channel_message_id, started_at=started_at, finished_at=finished_at))
    return True


def page(session: Session, visible: Visibility, applicant_id: str | None, after: str | None,
         limit: int, status: str | None = None) -> Iterator[NotificationRow]:
    """Notifications in id (creation) order after `after`, of those `visible`."""
    query = select(NotificationRow).order_by(NotificationRow.notification_id).limit(limit)
    if after:
        query = query.where(NotificationRow.notification_id > after)
    if applicant_id:
        query = query.where(NotificationRow.applicant_id == applicant_id)
    if status:
        query = query.where(NotificationRow.status == status)
    query = narrowed(query, visible, NotificationRow.partner_id, NotificationRow.applicant_id)
    return session.execute(query).scalars()


def deliveries(session: Session, after: str | None, limit: int,
               notification_id: str | None = None,
               applicant_id: str | None = None) -> list[tuple[NotificationDeliveryRow, str, str]]:
    """Delivery attempts in id order after `after`, each with its notification's applicant and
    kind."""
    query = (select(NotificationDeliveryRow, NotificationRow.applicant_id, NotificationRow.kind)
             .join(NotificationRow, NotificationRow.notification_id
                   == NotificationDeliveryRow.notification_id)
             .order_by(NotificationDeliveryRow.delivery_id).limit(limit))
    if after:
        query = query.where(NotificationDeliveryRow.delivery_id > after)
    if notification_id:
        query = query.where(NotificationDeliveryRow.notification_id == notification_id)
    if applicant_id:
        query = query.where(NotificationRow.applicant_id == applicant_id)
    return [(d, a, k) for d, a, k in session.execute(query)]


def latest_deliveries(session: Session, limit: int, notification_id: str | None = None,
                      applicant_id: str | None = None
                      ) -> list[tuple[NotificationDeliveryRow, str, str]]:
    """The latest `limit` delivery attempts, oldest of them first."""
    query = (select(NotificationDeliveryRow, NotificationRow.applicant_id, NotificationRow.kind)
             .join(NotificationRow, NotificationRow.notification_id
                   == NotificationDeliveryRow.notification_id)
             .order_by(NotificationDeliveryRow.delivery_id.desc()).limit(limit))
    if notification_id:
        query = query.where(NotificationDeliveryRow.notification_id == notification_id)
    if applicant_id:
        query = query.where(NotificationRow.applicant_id == applicant_id)
    return [(d, a, k) for d, a, k in session.execute(query)][::-1]


def latest(session: Session, limit: int, applicant_id: str | None = None,
           status: str | None = None) -> list[NotificationRow]:
    """The latest `limit` notifications, oldest of them first."""
    query = select(NotificationRow).order_by(NotificationRow.notification_id.desc()).limit(limit)
    if applicant_id:
        query = query.where(NotificationRow.applicant_id == applicant_id)
    if status:
        query = query.where(NotificationRow.status == status)
    return list(session.execute(query).scalars())[::-1]


def counts(session: Session) -> dict[str, int]:
    """How many notifications are in each status."""
    return {s: n for s, n in session.execute(
        select(NotificationRow.status, func.count()).group_by(NotificationRow.status))}


# -- reminder candidates ---------------------------------------------------------------------------
def reminder_candidates(session: Session, disbursed: str, horizon: date) -> list[tuple[str, str]]:
    """(loan id, applicant id) of the paid-out loans (and loans drawn under a credit line) that
    may have a reminder due by
    `horizon`, by loan id: active term loans whose due position shows arrears or a due date up
    to `horizon`, and loans without a position (read whole: never left out).

    Why a superset is enough: a loan's position is saved with every event and close; its next
    due date (`cur_due`) is the first after the last day charged, so no unpaid instalment falls
    due before it, and an instalment already overdue shows as `arrears_since` or as a `cur_due`
    in the past.  The reminder rules read each candidate whole and decide."""
    from puhui.store.close_models import LoanPositionRow as Pos
    from puhui.store.platform_models import ApplicationRow as App

    from puhui.store.line_repo import EVENTS, LINES

    def near(loan_id: Any) -> Any:
        return or_(Pos.loan_id.is_(None),
                   and_(Pos.status == "active", Pos.kind == "term",
                        or_(Pos.arrears_since.is_not(None), Pos.cur_due.is_(None),
                            Pos.cur_due <= horizon)))

    paid_out = (select(App.loan_id, App.applicant_id)
                .outerjoin(Pos, Pos.loan_id == App.loan_id)
                .where(App.status == disbursed, App.loan_id.is_not(None), near(App.loan_id)))
    # loans drawn under a credit line: the line's borrower is the one reminded
    drawn = (select(EVENTS.c.loan_id, LINES.c.applicant_id)
             .join(LINES, LINES.c.line_id == EVENTS.c.line_id)
             .outerjoin(Pos, Pos.loan_id == EVENTS.c.loan_id)
             .where(EVENTS.c.kind == "draw", near(EVENTS.c.loan_id)))
    rows = {loan_id: applicant_id for query in (paid_out, drawn)
            for loan_id, applicant_id in session.execute(query)}
    return sorted(rows.items())


# -- contacts --------------------------------------------------------------------------------------
def contact(session: Session, applicant_id: str, channel: str) -> NotificationContactRow | None:
    return session.get(NotificationContactRow, (applicant_id, channel))


def contacts_of(session: Session, applicant_ids: Sequence[str],
                channels: Sequence[str]) -> dict[tuple[str, str], NotificationContactRow]:
    """`contact` for many applicants and channels at once: (applicant id, channel) -> row,
    for those that have one."""
    ids, out = sorted(set(applicant_ids)), {}
    if not channels:
        return out
    for start in range(0, len(ids), 500):
        for row in session.execute(select(NotificationContactRow).where(
                NotificationContactRow.applicant_id.in_(ids[start:start + 500]),
                NotificationContactRow.channel.in_(list(channels)))).scalars():
            out[(row.applicant_id, row.channel)] = row
    return out


def set_contact(session: Session, applicant_id: str, channel: str, address: str,
                address_masked: str, now: datetime) -> None:
    row = session.get(NotificationContactRow, (applicant_id, channel))
    if row is None:
        session.add(NotificationContactRow(applicant_id=applicant_id, channel=channel,
                                           address=address, address_masked=address_masked,
                                           updated_at=now))
    else:
        row.address, row.address_masked, row.updated_at = address, address_masked, now
    session.flush()
