"""The contact rules: collection must not harass (abusive collection is illegal).

- **Hours**: a borrower is contacted only between `earliest` (inclusive) and `latest`
  (exclusive) local time in the lender's zone: 08:00-21:00 Asia/Shanghai by default, so 07:59
  and 21:00 are refused, 08:00 and 20:59 allowed.
- **Frequency**: at most `max_per_day` attempts per local calendar day and `max_per_week` in the
  seven local days ending today, per borrower (all their loans and cases together), whatever
  the channel or outcome: an unanswered call is a contact all the same.
- **Parties**: only the borrower is contacted.  Relatives, employers, business partners and
  anyone else whose data the lender may hold are never contacted about the debt.

`check_contact` raises `ContactRefused` naming the rule; it is pure (the time and the earlier
attempts are given).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from puhui.collections.errors import ContactRefused, InvalidCollectionsInput

ZONE = ZoneInfo("Asia/Shanghai")


class ContactChannel(str, enum.Enum):
    PHONE_CALL = "phone_call"
    SMS = "sms"
    APP_MESSAGE = "app_message"
    EMAIL = "email"
    FIELD_VISIT = "field_visit"
    LETTER = "letter"


class ContactParty(str, enum.Enum):
    """Who was (to be) contacted.  Only `BORROWER` is allowed; the others exist so an attempt
    on them is refused and audited rather than silently dropped as bad input."""

    BORROWER = "borrower"                   # the borrowing business or its legal representative
    GUARANTOR = "guarantor"
    RELATIVE = "relative"
    EMPLOYER_OR_COLLEAGUE = "employer_or_colleague"
    BUSINESS_PARTNER = "business_partner"
    OTHER = "other"


class ContactOutcome(str, enum.Enum):
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"
    PROMISE_TO_PAY = "promise_to_pay"
    REFUSED_TO_PAY = "refused_to_pay"
    DISPUTED = "disputed"
    WRONG_NUMBER = "wrong_number"
    CALLBACK_REQUESTED = "callback_requested"
    PAID = "paid"


ALLOWED_PARTIES = frozenset({ContactParty.BORROWER})


@dataclass(frozen=True, slots=True)
class ContactRules:
    earliest: time = time(8, 0)
    latest: time = time(21, 0)
    max_per_day: int = 3
    max_per_week: int = 10
    zone: ZoneInfo = ZONE

    def __post_init__(self) -> None:
        if not self.earliest < self.latest:
            raise InvalidCollectionsInput("contact hours must begin before they end")
        if not 1 <= self.max_per_day <= self.max_per_week:
            raise InvalidCollectionsInput("need 1 <= max_per_day <= max_per_week")


def __getattr__(name: str) -> Any:
    """`DEFAULT_RULES`: the shipped collections policy's contact rules
    (`puhui.collections.policy`, read on first use)."""
    if name == "DEFAULT_RULES":
        from puhui.collections.policy import shipped_collections_policy

        return shipped_collections_policy().contact_rules
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_enum(kind: type[enum.Enum], value: object, what: str) -> enum.Enum:
    try:
        return kind(value)
    except ValueError:
        raise InvalidCollectionsInput(f"unknown {what} {value!r}; choose from "
                                      f"{[k.value for k in kind]}") from None


#: A run of digits long enough to be a phone, ID or account number (spaces and dashes within).
_NUMBER = re.compile(r"\d[\d \-]{5,}\d")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


def scrub_note(note: str) -> str:
    """A collector's note with any phone, ID or account number masked (first 3 and last 4
    digits kept): a note is read by every collector and auditor, the numbers are not theirs."""
    def masked(found: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", found.group())
        if len(digits) < 7 or _DATE.fullmatch(found.group()):
            return found.group()
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return _NUMBER.sub(masked, note)


def check_contact(rules: ContactRules, at: datetime, party: ContactParty,
                  earlier: Iterable[datetime]) -> None:
    """Refuse a contact of `party` at `at` (UTC-aware) given the borrower's `earlier` attempts."""
    if at.tzinfo is None:
        raise InvalidCollectionsInput("a contact time must be timezone-aware")
    if party not in ALLOWED_PARTIES:
        raise ContactRefused("third_party", f"contacting a {party.value.replace('_', ' ')} about "
                             "a borrower's debt is not allowed: only the borrower is contacted")
    local = at.astimezone(rules.zone)
    if not rules.earliest <= local.time() < rules.latest:
        raise ContactRefused("contact_hours", f"{local:%H:%M} is outside the contact hours "
                             f"{rules.earliest:%H:%M}-{rules.latest:%H:%M} ({rules.zone.key})")
    today = local.date()
    week_start = today - timedelta(days=6)
    days = [e.astimezone(rules.zone).date() for e in earlier]
    on_day = sum(1 for d in days if d == today)
    if on_day >= rules.max_per_day:
        raise ContactRefused("daily_cap", f"the borrower was contacted {on_day} times today; "
                             f"at most {rules.max_per_day} contacts a day are allowed")
    in_week = sum(1 for d in days if week_start <= d <= today)
    if in_week >= rules.max_per_week:
        raise ContactRefused("weekly_cap", f"the borrower was contacted {in_week} times in the "
                             f"7 days to {today}; at most {rules.max_per_week} are allowed")


def week_window(rules: ContactRules, at: datetime) -> datetime:
    """The earliest moment whose attempts count toward the weekly cap at `at` (local midnight
    six days before)."""
    local = at.astimezone(rules.zone)
    start = datetime.combine(local.date() - timedelta(days=6), time(0), tzinfo=rules.zone)
    return start.astimezone(at.tzinfo)
