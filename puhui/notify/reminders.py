"""Which reminder is due for a loan on a business date, as a pure function of the schedules
(data, `reminder_schedules.json` or a file of the lender's own), the loan's unpaid instalments
and its days past due.

A schedule says, per product (`"*"` for every other), the steps before a due date (D-3, D-1, D0
as offsets -3, -1, 0) and after a miss, per delinquency bucket (D+1, D+7 ... as days past due;
each step must lie in its bucket, since the bucket sets the wording).  On a day, a loan gets at
most one reminder: for its oldest unpaid instalment once overdue (the latest after-miss step
reached), otherwise for the next instalment falling due (the latest before-due step reached).
"Latest reached" means a run that missed a day (the platform was down) sends the step that
applies now, never a backlog of stale ones.  Each step's idempotency key is
`reminder:<loan>:<due date>:<step>`, so a job run twice, or killed and re-run, records each
step once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy
from puhui.notify.channels import NotificationSettingsError

BEFORE_DUE = "before_due"
KIND_BEFORE_DUE = "reminder.before_due"
KIND_OVERDUE = "reminder.overdue"
#: The longest lead a before-due step may have.
MAX_LEAD_DAYS = 60


class InvalidReminderSchedule(NotificationSettingsError):
    """A reminder schedule document that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class ProductSchedule:
    before_due: tuple[int, ...]               # offsets <= 0, ascending
    after_miss: dict[str, tuple[int, ...]]    # bucket label -> days past due, ascending


@dataclass(frozen=True)
class ReminderSchedules:
    """The versioned schedules and the wording of each phase (before due, then each bucket)."""

    version: str
    products: dict[str, ProductSchedule]
    templates: dict[str, dict[str, str]]
    policy: DelinquencyPolicy = DEFAULT_POLICY

    @property
    def longest_lead(self) -> int:
        """The most days before a due date any product is reminded (7 for a D-7 step)."""
        return max((-min(s.before_due) for s in self.products.values() if s.before_due),
                   default=0)

    def for_product(self, code: str) -> ProductSchedule:
        return self.products.get(code) or self.products["*"]

    @classmethod
    def parse(cls, doc: Mapping[str, Any], policy: DelinquencyPolicy = DEFAULT_POLICY,
              where: str = "reminder schedules") -> "ReminderSchedules":
        """Validate a schedule document; `InvalidReminderSchedule` naming the first problem."""
        def bad(msg: str) -> InvalidReminderSchedule:
            return InvalidReminderSchedule(f"{where}: {msg}")

        if not isinstance(doc, Mapping) or set(doc) - {"version", "products", "templates"}:
            raise bad("a document with version, products and templates (nothing else)")
        version = doc.get("version")
        if not isinstance(version, str) or not version:
            raise bad("version must be a non-empty text")
        labels = policy.bucket_labels[1:]
        raw_products = doc.get("products")
        if not isinstance(raw_products, Mapping) or "*" not in raw_products:
            raise bad("products must map product codes to schedules and include '*'")
        products = {}
        for code, raw in raw_products.items():
            if not isinstance(raw, Mapping) or set(raw) != {"before_due", "after_miss"}:
                raise bad(f"product {code!r} needs before_due and after_miss")
            before = raw["before_due"]
            if not isinstance(before, list) or not all(
                    isinstance(o, int) and not isinstance(o, bool) and -MAX_LEAD_DAYS <= o <= 0
                    for o in before) or len(set(before)) != len(before):
                raise bad(f"product {code!r}: before_due lists distinct whole offsets from "
                          f"-{MAX_LEAD_DAYS} to 0 (D-3 is -3, D0 is 0)")
            after = raw["after_miss"]
            if not isinstance(after, Mapping) or set(after) - set(labels):
                raise bad(f"product {code!r}: after_miss maps buckets {list(labels)} to steps")
            steps: dict[str, tuple[int, ...]] = {}
            for label, offsets in after.items():
                if not isinstance(offsets, list) or len(set(offsets)) != len(offsets) or not all(
                        isinstance(o, int) and not isinstance(o, bool) and o >= 1
                        and policy.bucket(o) == label for o in offsets):
                    raise bad(f"product {code!r}: bucket {label} lists distinct days past due "
                              f"that fall in it (D+n is n)")
                steps[label] = tuple(sorted(offsets))
            products[str(code)] = ProductSchedule(tuple(sorted(before)), steps)
        templates = doc.get("templates")
        phases = (BEFORE_DUE, *labels)
        if not isinstance(templates, Mapping) or set(templates) != set(phases):
            raise bad(f"templates must give a subject and body for each of {list(phases)}")
        for phase, t in templates.items():
            if not isinstance(t, Mapping) or set(t) != {"subject", "body"} or not all(
                    isinstance(v, str) and v for v in t.values()):
                raise bad(f"template {phase!r} needs a subject and a body (texts)")
            try:
                for v in t.values():
                    v.format(**_SAMPLE)
            except (KeyError, IndexError, ValueError) as exc:
                raise bad(f"template {phase!r} uses an unknown field or bad braces: {exc}; "
                          f"fields: {sorted(_SAMPLE)}") from None
        return cls(version, products, {k: dict(v) for k, v in templates.items()}, policy)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "ReminderSchedules":
        """The schedules in the JSON file at `path`, or the shipped default."""
        if path is None:
            text = resources.files("puhui.notify").joinpath("reminder_schedules.json").read_text(
                encoding="utf-8")
            return cls.parse(json.loads(text), where="reminder_schedules.json")
        try:
            text = Path(path).read_text(encoding="utf-8")
            doc = json.loads(text)
        except (OSError, ValueError) as exc:
            raise InvalidReminderSchedule(f"cannot read reminder schedules {path}: {exc}") \
                from None
        return cls.parse(doc, where=str(path))


_SAMPLE = {"loan_id": "LN", "number": 1, "amount": "1.00", "due_date": "2026-01-01",
           "when": "今天", "when_en": "today", "dpd": 1, "days": 0, "product": "P"}


@dataclass(frozen=True)
class UnpaidInstalment:
    number: int
    due: date
    unpaid: int  # fen still owed on it (principal, interest and fee)


@dataclass(frozen=True)
class LoanDue:
    """What the reminder rules need of one loan on a day."""

    loan_id: str
    applicant_id: str
    product: str
    instalments: tuple[UnpaidInstalment, ...]  # unpaid ones, by due date
    days_past_due: int
    amount_due: int  # fen the borrower must pay today to be current (penalty included)


@dataclass(frozen=True)
class ReminderDue:
    """One reminder to record: its key, kind, wording and the facts behind it."""

    key: str
    loan_id: str
    applicant_id: str
    kind: str
    step: str
    due_date: date
    subject: str
    body: str
    context: dict[str, Any]


def step_label(offset: int) -> str:
    """-3 -> 'D-3', 0 -> 'D0', 7 -> 'D+7'."""
    return "D0" if offset == 0 else f"D{offset:+d}"


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _latest(offsets: Sequence[int], reached: int) -> int | None:
    got = [o for o in offsets if o <= reached]
    return got[-1] if got else None


def reminder_for(schedules: ReminderSchedules, loan: LoanDue, on: date) -> ReminderDue | None:
    """The reminder step due for `loan` on `on`, or None (see the module's doc)."""
    schedule = schedules.for_product(loan.product)
    unpaid = [i for i in loan.instalments if i.unpaid > 0]
    if not unpaid:
        return None
    oldest = unpaid[0]
    if oldest.due < on:  # missed: the after-miss steps of the loan's bucket
        dpd = max(loan.days_past_due, (on - oldest.due).days)
        bucket = schedules.policy.bucket(dpd)
        offset = _latest(schedule.after_miss.get(bucket, ()), dpd)
        if offset is None:
            return None
        phase, kind, inst = bucket, KIND_OVERDUE, oldest
        amount = max(loan.amount_due, oldest.unpaid)
    else:
        inst = oldest
        lead = (on - inst.due).days  # <= 0
        offset = _latest(schedule.before_due, lead)
        if offset is None:
            return None
        phase, kind, dpd, amount = BEFORE_DUE, KIND_BEFORE_DUE, 0, inst.unpaid
    label = step_label(offset)
    days = (inst.due - on).days
    fields = {"loan_id": loan.loan_id, "number": inst.number, "amount": _yuan(amount),
              "due_date": inst.due.isoformat(), "dpd": dpd, "days": days,
              "when": "今天到期" if days == 0 else f"还有{days}天",
              "when_en": "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}",
              "product": loan.product}
    template = schedules.templates[phase]
    context = {"loan_id": loan.loan_id, "instalment": inst.number,
               "due_date": inst.due.isoformat(), "step": label, "amount": amount,
               "days_past_due": dpd, "schedule_version": schedules.version,
               "business_date": on.isoformat()}
    return ReminderDue(f"reminder:{loan.loan_id}:{inst.due.isoformat()}:{label}", loan.loan_id,
                       loan.applicant_id, kind, label, inst.due,
                       template["subject"].format(**fields), template["body"].format(**fields),
                       context)


def reminders_due(schedules: ReminderSchedules, loans: Sequence[LoanDue],
                  on: date) -> list[ReminderDue]:
    """Every loan's reminder due on `on`, in the loans' order."""
    out = []
    for loan in loans:
        due = reminder_for(schedules, loan, on)
        if due is not None:
            out.append(due)
    return out
