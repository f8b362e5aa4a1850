"""The reminder run: which loans of the book have a reminder step due on a business date, each
recorded once through `notify` (its key is loan + due date + step), then sent by `dispatch`.

The rules are `puhui.notify.reminders` (pure); this module reads the book, asks them, and
records the reminders in transactions of `RECORD_CHUNK`, so a run killed half-way keeps what
it committed and a second run records only the rest (docs/notifications.md).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any, Mapping

from sqlalchemy.orm import Session

from puhui.book import amount_due
from puhui.loans.product import Component
from puhui.loans.state import LoanStatus
from puhui.notify.reminders import (LoanDue, ReminderSchedules, UnpaidInstalment,
                                    reminders_due)
from puhui.origination.workflow import ApplicationStatus
from puhui.services.access import Perm, Principal
from puhui.services.clock import business_date
from puhui.services.errors import InvalidRequest
from puhui.services.notifications import Notifier, dispatch, notifier_of, notify
from puhui.services.platform import Platform
from puhui.store import notification_repo

SCHEDULES_ENV = "PUHUI_REMINDER_SCHEDULES"
#: Reminders recorded per transaction: a run killed half-way loses at most this many records
#: (never a send), which the next run records again.
RECORD_CHUNK = 200


def schedules_of(p: Platform) -> ReminderSchedules:
    """The reminder schedules in force: the file `PUHUI_REMINDER_SCHEDULES` names, or the
    shipped `puhui/notify/reminder_schedules.json`; read once per platform."""
    n = notifier_of(p)
    if n.reminder_schedules is None:
        n.reminder_schedules = ReminderSchedules.load(os.environ.get(SCHEDULES_ENV) or None)
    return n.reminder_schedules


def check_settings(env: Mapping[str, str] | None = None) -> None:
    """Read every notification and reminder setting now (`NotificationSettingsError` naming the
    first bad one), so a scheduler refuses to start rather than fail at its first send."""
    env = os.environ if env is None else env
    Notifier.from_env(env)
    ReminderSchedules.load(env.get(SCHEDULES_ENV) or None)


def _owed(inst: Any) -> int:
    """Fen still owed on an instalment, its fee included before it is charged."""
    scheduled = {Component.PRINCIPAL: inst.principal, Component.INTEREST: inst.interest,
                 Component.FEE: inst.fee}
    return sum(max(0, amount - inst.paid.get(c, 0) - inst.written_off.get(c, 0)
                   - inst.capitalised.get(c, 0)) for c, amount in scheduled.items())


def loans_due(p: Platform, session: Session, on: date, lead_days: int = 0) -> list[LoanDue]:
    """The facts the reminder rules need for the active instalment loans paid out to an
    applicant (a loan booked outside origination has nobody to remind) that may have a step
    due: in arrears, or with an instalment due within `lead_days` (the candidates come from the
    loans' due positions, so a book's loans far from any due date are not read).  The
    borrower's credit balance pays the earliest instalments first, as the auto-debit would."""
    out = []
    for loan_id, applicant_id in notification_repo.reminder_candidates(
            session, ApplicationStatus.DISBURSED.value, on + timedelta(days=lead_days)):
        account = p.book.load_in(session, loan_id)
        if account.status is not LoanStatus.ACTIVE or not hasattr(account, "instalments"):
            continue  # a revolving line has no instalments to remind of
        credit = account.credit
        unpaid = []
        for inst in sorted(account.instalments, key=lambda i: i.due):
            owed = _owed(inst)
            used = min(credit, owed)
            credit -= used
            if owed - used > 0:
                unpaid.append(UnpaidInstalment(inst.number, inst.due, owed - used))
        out.append(LoanDue(loan_id, applicant_id, account.product.code, tuple(unpaid),
                           account.days_past_due(on), amount_due(account, on)))
    return out


def run_reminders(p: Platform, on: date, dispatch_after: bool = True) -> dict[str, Any]:
    """Record the reminders due on business date `on` (each step once, whatever the runs) and
    send what is due now.  The scheduler's `reminders` job and `puhui reminders run`."""
    schedules = schedules_of(p)
    with p.read() as session:
        due = reminders_due(schedules, loans_due(p, session, on, schedules.longest_lead), on)
    recorded = already = 0
    for start in range(0, len(due), RECORD_CHUNK):
        with p.unit() as session:
            for reminder in due[start:start + RECORD_CHUNK]:
                if notification_repo.keys_recorded(session, reminder.key):
                    already += 1
                    continue
                notify(p, session, applicant_id=reminder.applicant_id, kind=reminder.kind,
                       key=reminder.key, subject=reminder.subject, body=reminder.body,
                       context=reminder.context, loan_id=reminder.loan_id)
                recorded += 1
    summary: dict[str, Any] = {"business_date": on.isoformat(),
                               "schedule_version": schedules.version, "due": len(due),
                               "recorded": recorded, "already_recorded": already}
    if dispatch_after:
        summary["dispatch"] = dispatch(p)
    return summary


def run_for(p: Platform, actor: Principal, on: date | None = None) -> dict[str, Any]:
    """`run_reminders` for an operator (the CLI), for today's business date or an earlier one
    (a day the job missed); never a later one, which would remind early."""
    actor.require(Perm.OPERATE)
    today = business_date(p.clock)
    if on is not None and on > today:
        raise InvalidRequest(f"reminders run for today ({today}) or a day before it, not {on}")
    return run_reminders(p, on or today)
