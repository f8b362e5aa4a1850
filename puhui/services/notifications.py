"""Notifications to borrowers: recorded once per key in an outbox inside the caller's
transaction, sent afterwards by `dispatch` through the channels, every attempt in the delivery
log (docs/notifications.md).

Why an outbox: a notice about a change (a line raised, a reminder step) must exist exactly when
the change committed, and a message cannot be unsent when a transaction rolls back; so
`notify` only records, in the caller's session, and `dispatch` (the scheduler's tick, the
reminder job, `puhui notifications dispatch`) sends what is due, outside any transaction, one
claimed notification at a time.

Exactly once: `notify` records nothing for a key already recorded; a notification is claimed by
one conditional UPDATE before it is sent (two dispatchers never send it both); its outcome is
written only by the claim that made it.  A dispatcher that dies mid-send leaves its claim
`sending`; once older than the lease (`PUHUI_NOTIFY_SEND_LEASE_SECONDS`) it is sent again with
the same message id (Message-ID, webhook-id), so a receiver that got the first can drop it.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.orm import Session

from puhui.notify.channels import (Channel, ChannelName, Delivery, Envelope, InvalidContact,
                                   Outcome, check_email, check_push_token, mask_recipient)
from puhui.notify.rules import retry_delay
from puhui.notify.settings import NotifySettings, whole_setting
from puhui.services.access import Perm, Principal
from puhui.services.applicants import (applicant_row, key_of_row, owner_mobile, sealed,
                                       sealed_with, unsealed, unsealed_with)
from puhui.services.clock import BUSINESS_ZONE
from puhui.services.errors import AccessDenied, InvalidRequest, NotFound, PersonalDataErased
from puhui.services.ids import new_id
from puhui.services.platform import Platform
from puhui.store import applicant_repo
from puhui.store import notification_repo as repo
from puhui.store.crypto import context as sealed_context
from puhui.store.scoping import EVERYTHING

log = logging.getLogger("puhui.notifications")

LEASE_ENV = "PUHUI_NOTIFY_SEND_LEASE_SECONDS"
#: Channels whose address is the borrower's registered mobile number.
_MOBILE_CHANNELS = (ChannelName.SMS.value, ChannelName.LOG.value)
#: Channels whose address the borrower gives (`set_contact`).
CONTACT_CHANNELS = (ChannelName.EMAIL.value, ChannelName.PUSH.value)


@dataclass
class Notifier:
    """The channels a platform sends through and the rules it sends by."""

    settings: NotifySettings
    channels: Mapping[str, Channel]
    lease: timedelta = timedelta(minutes=5)
    #: The reminder schedules (`puhui.notify.reminders.ReminderSchedules`); None: read from
    #: `PUHUI_REMINDER_SCHEDULES` or the shipped file at the first reminder run.
    reminder_schedules: Any = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Notifier":
        """Channels and rules from the environment; `NotificationSettingsError` naming the
        first bad setting."""
        from puhui.services.channels import channels_from_env

        env = os.environ if env is None else env
        lease = whole_setting(env, LEASE_ENV, "300", 30, 86400, "seconds")
        return cls(NotifySettings.from_env(env, BUSINESS_ZONE), channels_from_env(env),
                   timedelta(seconds=lease))


def notifier_of(p: Platform) -> Notifier:
    """The platform's notifier, built from the environment the first time."""
    if p.notifications is None:
        p.notifications = Notifier.from_env()
    return p.notifications


def _text(name: str, value: Any, longest: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise InvalidRequest(f"a notification's {name} must be 1-{longest} characters of text")
    return value


@dataclass(frozen=True)
class Notice:
    """One notification to record (`notify`'s arguments), for `NoticeBatch`."""

    applicant_id: str
    kind: str
    key: str
    subject: str
    body: str
    context: Mapping[str, Any] | None = None
    loan_id: str | None = None


def notify(p: Platform, session: Session, *, applicant_id: str, kind: str, key: str,
           subject: str, body: str, context: Mapping[str, Any] | None = None,
           loan_id: str | None = None) -> None:
    """Record a notification to the borrower `applicant_id`, once per `key`, in the caller's
    transaction; `dispatch` sends it.

    One row per channel that has an address for the borrower (`PUHUI_NOTIFY_CHANNELS`: the
    registered mobile for SMS and the log, the e-mail and push token given with
    `set_contact`, the partner webhook for a partner's borrower).  It may go out from now, or
    from the end of quiet hours.  A kind under the cap (`PUHUI_NOTIFY_CAPPED_KINDS`) that
    would exceed it is recorded `capped` and never sent.  A second call with the same key
    records and sends nothing.
    """
    notice = _checked(Notice(applicant_id, kind, key, subject, body, context, loan_id))
    if repo.keys_recorded(session, notice.key):
        return
    n = notifier_of(p)
    row = applicant_repo.read(session, applicant_id)
    if row is None:
        raise NotFound(f"no applicant {applicant_id!r}")
    now = p.clock.now()
    not_before = n.settings.quiet.next_allowed(now)
    status = repo.PENDING
    if n.settings.is_capped(notice.kind):
        status = _capped_status(n, session, applicant_id, not_before)
    mobile = _mobile(session, row)
    payload = _context_text(context)

    def address_of(channel: str) -> str | None:
        found = repo.contact(session, applicant_id, channel)
        return None if found is None else unsealed(
            session, applicant_id, found.address,
            sealed_context("notification_contacts", f"{applicant_id}:{channel}"))

    repo.add(session, _outbox_rows(
        n, notice, row, mobile, payload, status, now, not_before, address_of,
        lambda text, where: sealed(session, applicant_id, text, where)))


def _checked(notice: Notice) -> Notice:
    """The notice with its texts checked (`InvalidRequest` naming the first bad one)."""
    key, kind = _text("key", notice.key, 200), _text("kind", notice.kind, 64)
    subject, body = _text("subject", notice.subject, 1000), _text("body", notice.body, 20000)
    return Notice(notice.applicant_id, kind, key, subject, body, notice.context,
                  notice.loan_id)


def _capped_status(n: Notifier, session: Session, applicant_id: str,
                   not_before: datetime) -> str:
    """`capped` if one more notice of a capped kind to the applicant would exceed the cap on
    the day it may go out, else `pending`."""
    day = not_before.astimezone(BUSINESS_ZONE).date()
    start, end = n.settings.cap.window(day, BUSINESS_ZONE)
    seen: dict[str, datetime] = {}
    for other_key, other_kind, at in repo.scheduled_in(session, applicant_id, start, end):
        if n.settings.is_capped(other_kind):
            seen.setdefault(other_key, at)
    days = [at.astimezone(BUSINESS_ZONE).date() for at in seen.values()]
    return repo.PENDING if n.settings.cap.admits(days, day) else repo.CAPPED


def _mobile(session: Session, row: Any) -> str | None:
    if row.erased_at is not None:
        return None
    try:
        return owner_mobile(session, row)
    except PersonalDataErased:
        return None


def _outbox_rows(n: Notifier, notice: Notice, row: Any, mobile: str | None, payload: str,
                 status: str, now: datetime, not_before: datetime,
                 address_of: Callable[[str], str | None],
                 seal: Callable[[str, str], str]) -> list[dict[str, Any]]:
    """The outbox rows of one notice: one per channel with an address (`address_of` a contact
    channel's, opened; `seal` seals an address for its row), else one `no_address` row."""
    applicant_id, loan_id = notice.applicant_id, notice.loan_id
    rows = []
    for channel in n.settings.channels:
        nid = new_id("NT")
        where = sealed_context("notifications", nid)
        address: str | None = None
        stored: str | None = None
        if channel in _MOBILE_CHANNELS and mobile:
            address = mobile
        elif channel in CONTACT_CHANNELS and mobile is not None:
            address = address_of(channel)
        elif channel == ChannelName.WEBHOOK.value and row.partner_id:
            stored = row.partner_id  # not personal: the partner the borrower came through
            masked = f"partner {row.partner_id}"
        if address is not None:
            stored = seal(address, where)
            masked = mask_recipient(channel, address)
        if stored is None:
            continue
        rows.append(dict(notification_id=nid, key=notice.key, channel=channel,
                         applicant_id=applicant_id, partner_id=row.partner_id, loan_id=loan_id,
                         kind=notice.kind, subject=notice.subject, body=notice.body,
                         context=payload, recipient=stored, recipient_masked=masked,
                         status=status, attempts=0, created_at=now, not_before=not_before,
                         claimed_at=None, sent_at=None, channel_message_id=None,
                         last_error=None))
    if not rows:
        rows.append(dict(notification_id=new_id("NT"), key=notice.key,
                         channel=n.settings.channels[0], applicant_id=applicant_id,
                         partner_id=row.partner_id, loan_id=loan_id, kind=notice.kind,
                         subject=notice.subject, body=notice.body, context=payload,
                         recipient=None, recipient_masked="", status=repo.NO_ADDRESS,
                         attempts=0, created_at=now, not_before=not_before, claimed_at=None,
                         sent_at=None, channel_message_id=None,
                         last_error="no address on any channel"))
    return rows


class NoticeBatch:
    """Many `notify` calls in a few statements, with what each would have recorded or refused.

    Why: the line refresh tells every borrower whose line changed, a hundred or more per
    chunk, and `notify` reads the key, the applicant, each contact and the data key once per
    notice.  A batch reads the keys already recorded and the applicants of every notice it may
    be given (`expected`) at once; `check` raises what `notify` would for notices taken so far
    plus the ones checked (so a caller can refuse a change whose notice would fail before
    anything is written); `add` takes them; `write` records all taken notices in order, the
    contacts read and each data key unwrapped once.  Identical to `notify` called for each in
    the order taken: the same rows (fresh ids), the same keys skipped; a kind under the cap is
    recorded through `notify` itself, in turn, so the cap counts exactly the same notices."""

    def __init__(self, p: Platform, session: Session, expected: Sequence[Notice]) -> None:
        self.p, self.session = p, session
        self.read = {x.key for x in expected if isinstance(x.key, str)}
        self.recorded = repo.keys_recorded_among(session, list(self.read))
        self.applicants = applicant_repo.read_many(session, [x.applicant_id for x in expected])
        self.taken: list[Notice] = []

    def check(self, notices: Sequence[Notice]) -> list[Notice]:
        """The notices `add` would record (checked), in order; raises what `notify` would for
        the first one refused.  Takes nothing."""
        out, keys = [], set()
        for notice in notices:
            notice = _checked(notice)
            if notice.key not in self.read:  # not foreseen: asked on its own
                self.read.add(notice.key)
                if repo.keys_recorded(self.session, notice.key):
                    self.recorded.add(notice.key)
            if notice.key in self.recorded or notice.key in keys:
                continue
            if notice.applicant_id not in self.applicants:
                row = applicant_repo.read(self.session, notice.applicant_id)
                if row is None:
                    raise NotFound(f"no applicant {notice.applicant_id!r}")
                self.applicants[notice.applicant_id] = row
            _context_text(notice.context)
            keys.add(notice.key)
            out.append(notice)
        return out

    def add(self, notices: Sequence[Notice]) -> None:
        """Take the notices (`check`ed: raises as it does, taking none of them)."""
        for notice in self.check(notices):
            self.recorded.add(notice.key)
            self.taken.append(notice)

    def write(self) -> int:
        """Record every notice taken, in order; how many."""
        if not self.taken:
            return 0
        p, session, n = self.p, self.session, notifier_of(self.p)
        now = p.clock.now()
        not_before = n.settings.quiet.next_allowed(now)
        told = {x.applicant_id for x in self.taken}
        mobiles = {a: _mobile(session, self.applicants[a]) for a in told}
        wanted = [c for c in CONTACT_CHANNELS if c in n.settings.channels]
        contacts = repo.contacts_of(session, [a for a in told if mobiles[a] is not None],
                                    wanted)
        keys: dict[str, bytes | None] = {}

        def key_of(applicant_id: str) -> bytes | None:
            if applicant_id not in keys:
                keys[applicant_id] = key_of_row(session, self.applicants[applicant_id])
            return keys[applicant_id]

        rows: list[dict[str, Any]] = []
        for notice in self.taken:
            a = notice.applicant_id
            if n.settings.is_capped(notice.kind):  # the cap counts what went before: in turn
                repo.add(session, rows)
                rows = []
                notify(p, session, applicant_id=a, kind=notice.kind, key=notice.key,
                       subject=notice.subject, body=notice.body, context=notice.context,
                       loan_id=notice.loan_id)
                continue

            def address_of(channel: str, a: str = a) -> str | None:
                found = contacts.get((a, channel))
                return None if found is None else unsealed_with(
                    key_of(a), a, found.address,
                    sealed_context("notification_contacts", f"{a}:{channel}"))

            rows.extend(_outbox_rows(
                n, notice, self.applicants[a], mobiles[a], _context_text(notice.context),
                repo.PENDING, now, not_before, address_of,
                lambda text, where, a=a: sealed_with(key_of(a), text, where)))
        repo.add(session, rows)
        count, self.taken = len(self.taken), []
        return count


def notify_many(p: Platform, session: Session, notices: Sequence[Notice]) -> None:
    """`notify` for each notice, in order, in a few statements (`NoticeBatch`); raises what
    `notify` would for the first notice refused, recording none of them."""
    batch = NoticeBatch(p, session, notices)
    batch.add(notices)
    batch.write()


# -- sending ---------------------------------------------------------------------------------------
def dispatch(p: Platform, limit: int = 10_000) -> dict[str, int]:
    """Send the notifications due now, each claimed on its own; what happened, counted.

    Nothing is sent in quiet hours.  A failed attempt is retried after 1, 2, 4 ... minutes (at
    most an hour, and never in quiet hours) until `PUHUI_NOTIFY_MAX_ATTEMPTS`, then abandoned."""
    n = notifier_of(p)
    summary = {"sent": 0, "failed": 0, "not_configured": 0, "abandoned": 0}
    if n.settings.quiet.quiet(p.clock.now()):
        summary["quiet_hours"] = 1
        return summary
    done = 0
    while done < limit:
        if n.settings.quiet.quiet(p.clock.now()):
            summary["quiet_hours"] = 1  # they began while sending: the rest waits for the end
            break
        with p.read() as session:
            ids = repo.due_ids(session, p.clock.now(), n.lease, min(200, limit - done))
        if not ids:
            break
        for nid in ids:
            done += 1
            outcome = _send_one(p, n, nid)
            if outcome is not None:
                summary[outcome] = summary.get(outcome, 0) + 1
    return summary


def _send_one(p: Platform, n: Notifier, notification_id: str) -> str | None:
    """Claim, send and record one notification; the status it ended in, or None if another
    dispatcher had it."""
    now = p.clock.now()
    if n.settings.quiet.quiet(now):
        return None
    with p.unit() as session:
        row = repo.claim(session, notification_id, now, n.lease)
        if row is None:
            return None
        attempt, channel_name = row.attempts, row.channel
        masked, applicant_id = row.recipient_masked, row.applicant_id
        recipient: str | None
        try:
            recipient = None if row.recipient is None else (
                row.recipient if channel_name == ChannelName.WEBHOOK.value else
                unsealed(session, applicant_id, row.recipient,
                         sealed_context("notifications", notification_id)))
        except (PersonalDataErased, NotFound):
            recipient = None
        envelope = None if recipient is None else Envelope(
            notification_id, channel_name, recipient, row.subject, row.body, row.kind,
            applicant_id, _context(row.context))
    started = p.clock.now()
    channel = n.channels.get(channel_name)
    if envelope is None:
        delivery = Delivery(Outcome.FAILED, None, "the borrower's personal data was erased")
    elif channel is None:
        delivery = Delivery.not_configured(f"no channel {channel_name!r} on this platform")
    else:
        try:
            delivery = channel.send(envelope)
        except Exception as exc:  # noqa: BLE001 - a channel's bug is a failed delivery, not a crash
            delivery = Delivery.failed(f"{type(exc).__name__}: {exc}")
    finished = p.clock.now()
    not_before = None
    if delivery.outcome is Outcome.SENT:
        status = repo.SENT
    elif delivery.outcome is Outcome.NOT_CONFIGURED:
        status = repo.NOT_CONFIGURED
    elif envelope is None or attempt >= n.settings.max_attempts:
        status = repo.ABANDONED
    else:
        status = repo.FAILED
        not_before = n.settings.quiet.next_allowed(finished + retry_delay(attempt))
    error = delivery.error
    if error and recipient:
        error = error.replace(recipient, masked)
    with p.unit() as session:
        kept = repo.record_attempt(
            session, delivery_id=new_id("DL"), notification_id=notification_id,
            attempt=attempt, channel=channel_name, recipient_masked=masked,
            outcome=delivery.outcome.value, error=error,
            channel_message_id=delivery.channel_message_id, started_at=started,
            finished_at=finished, status=status, not_before=not_before)
    if not kept:
        log.warning("notification %s: attempt %s ended after its claim was taken over; not "
                    "recorded", notification_id, attempt)
        return None
    if status == repo.FAILED:
        log.warning("notification %s via %s to %s failed (attempt %s): %s", notification_id,
                    channel_name, masked, attempt, error)
    return status


def _plain(value: Any) -> Any:
    """Dates, times, decimals and enums in a notice's context, as JSON text has them."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


def _context_text(context: Mapping[str, Any] | None) -> str:
    if context is None:
        return "{}"
    if not isinstance(context, Mapping):
        raise InvalidRequest("a notification's context must be a mapping")
    try:
        return json.dumps(dict(context), sort_keys=True, ensure_ascii=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"a notification's context must be JSON data: {exc}") from None


def _context(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- reading ---------------------------------------------------------------------------------------
def notification_view(row: Any, staff: bool) -> dict[str, Any]:
    out = {"notification_id": row.notification_id, "applicant_id": row.applicant_id,
           "loan_id": row.loan_id, "kind": row.kind, "channel": row.channel,
           "recipient": row.recipient_masked, "subject": row.subject, "body": row.body,
           "status": row.status, "attempts": row.attempts,
           "created_at": row.created_at.isoformat(), "not_before": row.not_before.isoformat(),
           "sent_at": row.sent_at.isoformat() if row.sent_at else None,
           "context": _context(row.context)}
    if staff:
        out.update(key=row.key, last_error=row.last_error,
                   channel_message_id=row.channel_message_id)
    return out


def list_notifications(session: Session, actor: Principal, applicant_id: str | None,
                       after: str | None, limit: int, status: str | None = None
                       ) -> list[dict[str, Any]]:
    """A borrower's own notifications, a partner's borrowers', or (staff) everyone's, oldest
    first."""
    actor.require(Perm.READ)
    if applicant_id is not None:
        applicant_row(session, actor, applicant_id)  # NotFound outside the key's scope
    if status is not None and status not in repo.STATUSES:
        raise InvalidRequest(f"unknown status {status!r}; choose from {list(repo.STATUSES)}")
    return [notification_view(r, actor.sees_everything)
            for r in repo.page(session, actor.visibility, applicant_id, after, limit, status)]


def list_deliveries(session: Session, actor: Principal, after: str | None, limit: int,
                    notification_id: str | None = None,
                    applicant_id: str | None = None) -> list[dict[str, Any]]:
    """The delivery log, every attempt, for staff (credit officers and admins)."""
    actor.require(Perm.READ)
    if not actor.sees_everything:
        raise AccessDenied("the delivery log is for staff (credit officer or admin keys)")
    return [_delivery_view(*row) for row in
            repo.deliveries(session, after, limit, notification_id, applicant_id)]


def outbox_counts(session: Session) -> dict[str, int]:
    return {s: repo.counts(session).get(s, 0) for s in repo.STATUSES}


def _delivery_view(d: Any, applicant: str, kind: str) -> dict[str, Any]:
    return {"delivery_id": d.delivery_id, "notification_id": d.notification_id,
            "applicant_id": applicant, "kind": kind, "attempt": d.attempt,
            "channel": d.channel, "recipient": d.recipient_masked, "outcome": d.outcome,
            "error": d.error, "channel_message_id": d.channel_message_id,
            "started_at": d.started_at.isoformat(), "finished_at": d.finished_at.isoformat()}


def delivery_log(p: Platform, actor: Principal, limit: int = 50,
                 notification_id: str | None = None,
                 applicant_id: str | None = None) -> list[dict[str, Any]]:
    """The latest `limit` delivery attempts, oldest of them first (the CLI's log)."""
    actor.require(Perm.OPERATE)
    with p.read() as session:
        return [_delivery_view(*row) for row in
                repo.latest_deliveries(session, limit, notification_id, applicant_id)]


def outbox(p: Platform, actor: Principal, limit: int = 50, applicant_id: str | None = None,
           status: str | None = None) -> list[dict[str, Any]]:
    """The latest `limit` notifications, oldest of them first (the CLI's list)."""
    actor.require(Perm.OPERATE)
    if status is not None and status not in repo.STATUSES:
        raise InvalidRequest(f"unknown status {status!r}; choose from {list(repo.STATUSES)}")
    with p.read() as session:
        return [notification_view(r, True) for r in
                repo.latest(session, limit, applicant_id, status)]


def notifications_of(session: Session, applicant_id: str) -> list[dict[str, Any]]:
    """Every notification to the applicant (recipients masked), for their data export."""
    return [notification_view(r, False) for r in
            repo.page(session, EVERYTHING, applicant_id, None, 1_000_000)]


# -- contacts --------------------------------------------------------------------------------------
def contacts_of(session: Session, applicant_id: str) -> list[dict[str, Any]]:
    """The applicant's contact addresses in full, for their data export."""
    out = []
    for channel in CONTACT_CHANNELS:
        row = repo.contact(session, applicant_id, channel)
        if row is not None:
            out.append({"channel": channel, "address": unsealed(
                session, applicant_id, row.address,
                sealed_context("notification_contacts", f"{applicant_id}:{channel}")),
                "updated_at": row.updated_at.isoformat()})
    return out


def set_contact(p: Platform, session: Session, actor: Principal, applicant_id: str,
                channel: str, address: str) -> dict[str, Any]:
    """Record the borrower's e-mail address or app push token (sealed; shown masked).  SMS goes
    to the mobile number registered with the applicant."""
    actor.require(Perm.APPLY)
    row = applicant_row(session, actor, applicant_id)
    if row.erased_at is not None:
        raise PersonalDataErased(f"the personal data of applicant {applicant_id} was erased")
    if channel not in CONTACT_CHANNELS:
        raise InvalidRequest(f"a contact is given for {list(CONTACT_CHANNELS)}; SMS goes to the "
                             f"registered mobile number")
    try:
        address = check_email(address) if channel == ChannelName.EMAIL.value \
            else check_push_token(address)
    except InvalidContact as exc:
        raise InvalidRequest(str(exc)) from None
    where = sealed_context("notification_contacts", f"{applicant_id}:{channel}")
    masked = mask_recipient(channel, address)
    now = p.clock.now()
    repo.set_contact(session, applicant_id, channel, sealed(session, applicant_id, address, where),
                     masked, now)
    return {"applicant_id": applicant_id, "channel": channel, "address": masked,
            "updated_at": now.isoformat()}
