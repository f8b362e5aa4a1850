"""Record schemas of the seven business-data sources, one strict pydantic model per `DataScope`.

Why strict and frozen: a connector payload is evidence the lender keeps and a model input it
cannot second-guess later.  "12" is not 12, 12.0 is not 12 fen, an unknown field is a provider
changing its format without telling us; each is refused rather than quietly repaired.  Money is
int fen, never float; only a bank transaction's amount and balance may be negative.  Dates
arrive as "YYYY-MM-DD", months as "YYYY-MM", timestamps as ISO 8601 with an offset (kept in UTC).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, Iterator, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationInfo,
    field_validator,
)


def _day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date written YYYY-MM-DD")


def _month(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime) and value.day == 1:
        return value
    if isinstance(value, str) and len(value) == 7 and value[4] == "-":
        try:
            return date(int(value[:4]), int(value[5:]), 1)
        except ValueError:
            pass
    raise ValueError("must be a month written YYYY-MM")


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 timestamp with an offset") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("must carry a time zone offset (UTC expected)")
        return value.astimezone(timezone.utc)
    raise ValueError("must be an ISO 8601 timestamp with an offset")


Day = Annotated[date, BeforeValidator(_day),
                PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")]
Month = Annotated[date, BeforeValidator(_month),
                  PlainSerializer(lambda d: f"{d:%Y-%m}", return_type=str, when_used="json")]
UtcTimestamp = Annotated[datetime, BeforeValidator(_utc), PlainSerializer(
    lambda t: t.isoformat(), return_type=str, when_used="json")]
Fen = Annotated[int, Field(ge=0)]
PositiveFen = Annotated[int, Field(gt=0)]
Ident = Annotated[str, Field(min_length=1, max_length=128)]
Hashed = Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$")]
RegionCode = Annotated[str, Field(pattern=r"^[1-9][0-9]{5}$")]


def month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


class Record(BaseModel):
    """Common settings and the dates checked against the payload's `as_of`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    #: The fields holding dates (or UTC timestamps) of things that have already happened.
    DATES: ClassVar[tuple[str, ...]] = ()

    def dated(self) -> Iterator[tuple[str, date]]:
        """(field path, date) of every date this record claims has already happened."""
        for name in self.DATES:
            value = getattr(self, name)
            if value is not None:
                yield name, value.date() if isinstance(value, datetime) else value


def _not_before(info: ValidationInfo, value: date | None, earlier: str) -> None:
    first = info.data.get(earlier)
    if value is not None and first is not None and value < first:
        raise ValueError(f"must not be before {earlier} ({first.isoformat()})")


# -- TAX ------------------------------------------------------------------------------------------
class TaxFiling(Record):
    """A VAT or income-tax declaration for whole calendar months (a month, quarter or year)."""

    DATES = ("period_start", "period_end", "filed_on")
    tax_type: Literal["vat", "income_tax"]
    period_start: Day
    period_end: Day
    filed_on: Day
    declared_revenue_fen: Fen
    tax_paid_fen: Fen

    @field_validator("period_start")
    @classmethod
    def _starts_a_month(cls, v: date) -> date:
        if v.day != 1:
            raise ValueError("a tax period starts on the first day of a month")
        return v

    @field_validator("period_end")
    @classmethod
    def _ends_a_month(cls, v: date, info: ValidationInfo) -> date:
        _not_before(info, v, "period_start")
        if v != month_end(v):
            raise ValueError("a tax period ends on the last day of a month")
        return v

    @field_validator("filed_on")
    @classmethod
    def _after_period(cls, v: date, info: ValidationInfo) -> date:
        end = info.data.get("period_end")
        if end is not None and v <= end:
            raise ValueError(f"a period is declared after it ends ({end.isoformat()})")
        return v


# -- SALES ----------------------------------------------------------------------------------------
class SalesOrder(Record):
    """A POS or e-commerce order; a refund counts from `refunded_on`, not from the order date,
    so an order fetched later does not leak a later refund into an earlier decision."""

    DATES = ("ordered_on", "refunded_on")
    order_id: Ident
    ordered_on: Day
    channel: Literal["pos", "ecommerce"]
    amount_fen: PositiveFen
    customer_hash: Hashed
    refunded: bool
    # checked even when left out: a refund without its date cannot be placed in time
    refunded_on: Day | None = Field(default=None, validate_default=True)

    @field_validator("refunded_on")
    @classmethod
    def _refund_dated(cls, v: date | None, info: ValidationInfo) -> date | None:
        if "refunded" in info.data and info.data["refunded"] != (v is not None):
            raise ValueError("set exactly when refunded is true")
        _not_before(info, v, "ordered_on")
        return v


# -- UTILITY --------------------------------------------------------------------------------------
class UtilityBill(Record):
    """A monthly electricity (usage in kWh) or water (usage in m3) bill."""

    DATES = ("period_month", "billed_on", "paid_on")  # due_on is a term, not an event
    utility: Literal["electricity", "water"]
    period_month: Month
    usage: Annotated[int, Field(ge=0)]
    amount_fen: Fen
    billed_on: Day
    due_on: Day
    paid_on: Day | None = None

    @field_validator("billed_on")
    @classmethod
    def _billed_after_period(cls, v: date, info: ValidationInfo) -> date:
        month = info.data.get("period_month")
        if month is not None and v <= month_end(month):
            raise ValueError("a month is billed after it ends")
        return v

    @field_validator("due_on", "paid_on")
    @classmethod
    def _after_billing(cls, v: date | None, info: ValidationInfo) -> date | None:
        _not_before(info, v, "billed_on")
        return v


# -- LOGISTICS ------------------------------------------------------------------------------------
class Waybill(Record):
    DATES = ("shipped_on", "delivered_on")
    waybill_id: Ident
    shipped_on: Day
    delivered_on: Day | None = None
    weight_g: Annotated[int, Field(gt=0)]
    fee_fen: Fen
    destination_region: RegionCode

    @field_validator("delivered_on")
    @classmethod
    def _after_shipping(cls, v: date | None, info: ValidationInfo) -> date | None:
        _not_before(info, v, "shipped_on")
        return v


# -- BANK_STATEMENT -------------------------------------------------------------------------------
class BankTransaction(Record):
    """One statement line: inflows positive, outflows negative, the balance after it."""

    DATES = ("booked_on",)
    booked_on: Day
    amount_fen: int
    counterparty_hash: Hashed
    balance_after_fen: int

    @field_validator("amount_fen")
    @classmethod
    def _moves_money(cls, v: int) -> int:
        if v == 0:
            raise ValueError("a transaction moves a non-zero amount")
        return v


# -- BUREAU ---------------------------------------------------------------------------------------
class BureauLoan(Record):
    DATES = ("opened_on",)
    loan_ref: Hashed
    lender_type: Literal["bank", "microfinance", "consumer_finance", "other"]
    opened_on: Day
    limit_fen: PositiveFen
    balance_fen: Fen
    status: Literal["open", "closed"]

    @field_validator("status")
    @classmethod
    def _closed_is_repaid(cls, v: str, info: ValidationInfo) -> str:
        balance, limit = info.data.get("balance_fen"), info.data.get("limit_fen")
        if v == "closed" and balance:
            raise ValueError("a closed loan has no balance")
        if balance is not None and limit is not None and balance > limit:
            raise ValueError(f"balance_fen {balance} exceeds limit_fen {limit}")
        return v


class OverdueMonth(Record):
    DATES = ("month",)
    month: Month
    overdue_days: Annotated[int, Field(ge=0, le=3650)]


class Enquiry(Record):
    DATES = ("enquired_on",)
    enquired_on: Day
    reason: Literal["loan_approval", "guarantee_review", "post_loan_management"]


class BureauReport(Record):
    """A credit-bureau report as of `reported_on`: its loans, overdue history and enquiries."""

    reported_on: Day
    loans: list[BureauLoan]
    overdue_history: list[OverdueMonth]
    enquiries: list[Enquiry]

    def dated(self) -> Iterator[tuple[str, date]]:
        yield "reported_on", self.reported_on
        for name, items in (("loans", self.loans), ("overdue_history", self.overdue_history),
                            ("enquiries", self.enquiries)):
            for i, item in enumerate(items):
                for field, value in item.dated():
                    yield f"{name}.{i}.{field}", value


# -- APP_BEHAVIOUR --------------------------------------------------------------------------------
APP_EVENT_TYPES = ("login", "view_dashboard", "view_loan", "apply", "repay", "bind_card",
                   "change_password", "logout")


class AppEvent(Record):
    DATES = ("occurred_at",)
    occurred_at: UtcTimestamp
    event_type: Literal["login", "view_dashboard", "view_loan", "apply", "repay", "bind_card",
                        "change_password", "logout"]
    session_id: Ident
    device_id: Ident
