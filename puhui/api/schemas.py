"""Request bodies.  Amounts are integers of fen, rates decimal strings: never floats.

Unknown fields are refused (`extra="forbid"`), so a misspelt field fails loudly instead of
being silently ignored.  Every amount is at most `MAX_AMOUNT` (the services bound it further by
what the business allows), so no number reaches the database driver out of a 64-bit range;
dates are ISO strings only (a number is not read as a Unix timestamp).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, Optional

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt,
                      StrictStr)

from puhui.api import examples as ex
from puhui.loans.approvals import Operation as ServicingOperation
from puhui.collections.contact import ContactChannel, ContactOutcome, ContactParty
from puhui.collections.restructuring import RestructuringKind
from puhui.loans.caps import CapKind
from puhui.loans.events import PrepaymentMode
from puhui.money import MAX_AMOUNT
from puhui.parties.consent import DataScope, Purpose
from puhui.parties.applicant import ApplicantKind
from puhui.services.access import Perm, Role
from puhui.services.loans import PayoutMode

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_text(value: object) -> object:
    """Only "YYYY-MM-DD" text is a date here: pydantic alone would read 0, 0.0 or "0" as a Unix
    timestamp (1970-01-01)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("a date must be a string YYYY-MM-DD")
    return value


#: A date given as an ISO 8601 string ("2026-03-02"), never a number (in a body or a query).
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def example(value: dict) -> ConfigDict:
    """A body's configuration with the example the OpenAPI document shows."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


class PersonIn(Body):
    name: StrictStr = Field(min_length=1, max_length=100)
    resident_id: StrictStr = Field(min_length=1, max_length=32, description="GB 11643 number")
    mobile: StrictStr = Field(min_length=1, max_length=32)


class ApplicantIn(Body):
    model_config = example(ex.APPLICANT_IN)
    kind: ApplicantKind
    business_name: StrictStr = Field(min_length=1, max_length=200)
    owner: PersonIn = Field(description="the 个体户 owner or the enterprise's legal representative")
    uscc: Optional[StrictStr] = Field(None, max_length=32, description="GB 32100 credit code")
    industry: StrictStr = Field("", max_length=100)
    region_code: StrictStr = Field("", max_length=6)
    established_on: Optional[IsoDate] = None
    monthly_revenue: StrictInt = Field(0, ge=0, le=MAX_AMOUNT, description="declared, fen")
    guarantors: list[PersonIn] = Field(default_factory=list, max_length=10)


class ConsentIn(Body):
    model_config = example(ex.CONSENT_IN)
    purpose: Purpose
    scopes: list[DataScope] = Field(min_length=1, max_length=20)
    valid_days: StrictInt = Field(365, ge=1, le=1095)
    channel: StrictStr = Field("api", min_length=1, max_length=32)
    text_version: StrictStr = Field("v1", min_length=1, max_length=32)


class BankAccountIn(Body):
    model_config = example(ex.BANK_ACCOUNT_IN)
    card_number: StrictStr = Field(min_length=1, max_length=32)
    holder_name: StrictStr = Field(min_length=1, max_length=200)
    bank_name: StrictStr = Field("", max_length=100)


class ApplicationIn(Body):
    model_config = example(ex.APPLICATION_IN)
    applicant_id: StrictStr = Field(min_length=1, max_length=32)
    product_code: StrictStr = Field(min_length=1, max_length=64)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT, description="requested principal, fen")
    purpose: StrictStr = Field("", max_length=500)
    submit: StrictBool = Field(False, description="submit at once: verify, decide and offer")


class WithdrawIn(Body):
    reason: StrictStr = Field("", max_length=500)


class ReviewIn(Body):
    approve: StrictBool
    note: StrictStr = Field(min_length=1, max_length=2000)
    amount: Optional[StrictInt] = Field(None, gt=0, le=MAX_AMOUNT)
    annual_rate: Optional[StrictStr] = Field(None, pattern=r"^\d{1,2}(\.\d{1,6})?$",
                                             description="decimal fraction, e.g. '0.108'")


class AcceptIn(Body):
    account_id: StrictStr = Field(min_length=1, max_length=32,
                                  description="bound bank account for repayments")


class SignIn(Body):
    content_hash: StrictStr = Field(pattern=r"^[0-9a-f]{64}$")


class DisbursementIn(Body):
    mode: PayoutMode = PayoutMode.BOUND_ACCOUNT
    payee_name: Optional[StrictStr] = Field(None, max_length=200)
    payee_account: Optional[StrictStr] = Field(None, max_length=40)
    reference: StrictStr = Field("", max_length=200,
                                 description="invoice or order paid (entrusted payment)")


class RepaymentIn(Body):
    model_config = example(ex.REPAYMENT_IN)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT, description="fen, at most the payoff amount")
    prepayment: Optional[PrepaymentMode] = None


class RefundIn(Body):
    model_config = example(ex.REFUND_IN)
    amount: Optional[StrictInt] = Field(None, gt=0, le=MAX_AMOUNT,
                                        description="fen; default: the whole credit balance")


class LineGrantIn(Body):
    expires_on: Optional[IsoDate] = Field(
        None, description="last day the line may be drawn is the day before; default: the "
                          "revolving product's term, else 365 days")


class DrawIn(Body):
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT,
                              description="fen, within the line's available amount")


class LineChangeIn(Body):
    reason: StrictStr = Field(min_length=1, max_length=500,
                              description="why: shown to the borrower and kept on the event")
    limit: Optional[StrictInt] = Field(None, ge=0, le=MAX_AMOUNT,
                                       description="new limit, fen (0..the product's maximum)")
    annual_rate: Optional[StrictStr] = Field(None, pattern=r"^\d{1,3}(\.\d{1,6})?$",
                                             description="new price for future draws, e.g. "
                                                         "'0.1260' (within the rate cap)")
    freeze: Optional[StrictBool] = Field(None, description="true: freeze; false: unfreeze")
    close: StrictBool = Field(False, description="close the line for good")
class ServicingRequestIn(Body):
    model_config = example(ex.SERVICING_REQUEST_IN)
    operation: ServicingOperation
    reason: StrictStr = Field(min_length=1, max_length=500,
                              description="why: kept with the request and its loan event")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the operation's parameters (docs/servicing.md): reschedule {periods, "
                    "annual_rate?, method?, capitalise_arrears?}; extend {extra_periods}; waive "
                    "{charge: penalty|fee, amount}; refund {amount?}; reverse_payment {target}; "
                    "recovery {amount}; write_off, freeze, unfreeze {}. Amounts in fen, rates "
                    "as decimal strings")


class ServicingRejectIn(Body):
    note: StrictStr = Field(min_length=1, max_length=500, description="why it is rejected")


class NotificationContactIn(Body):
    model_config = example({"channel": "email", "address": "owner@shop.example"})
    channel: Literal["email", "push"] = Field(description="SMS goes to the registered mobile")
    address: str = Field(min_length=1, max_length=512,
                         description="an e-mail address, or the app's push token")


class BusinessDateIn(Body):
    business_date: Optional[IsoDate] = None


class ApiKeyIn(Body):
    name: StrictStr = Field(min_length=1, max_length=200)
    role: Role
    subject: Optional[StrictStr] = Field(None, max_length=64)
    scopes: Optional[list[Perm]] = Field(None, max_length=len(Perm))


class ErasureIn(Body):
    reason: StrictStr = Field("", max_length=500, description="why erasure is asked for")


class RateCapVersionIn(Body):
    model_config = example(ex.RATE_CAP_VERSION_IN)
    kind: CapKind
    effective_from: IsoDate = Field(description="the business date it takes effect (today at "
                                                "the earliest, at most 366 days ahead)")
    rate: Optional[StrictStr] = Field(None, max_length=32,
                                      description="fixed: the cap as a decimal string (\"0.24\")")
    multiple: Optional[StrictStr] = Field(None, max_length=32,
                                          description="lpr_multiple: the multiple (\"4\")")
    label: StrictStr = Field("", max_length=200)
    note: StrictStr = Field("", max_length=200, description="why: the notice or decision")


class LprIn(Body):
    model_config = example(ex.LPR_IN)
    rate: StrictStr = Field(min_length=1, max_length=32,
                            description="the one-year LPR as a decimal string (\"0.0300\")")
    published_on: IsoDate
    effective_from: Optional[IsoDate] = Field(None, description="default: the publication date, "
                                                             "or today if that has passed")


class MonitoringDataIn(Body):
    """A data source's payload, as the connectors answer it (docs/risk-data.md): the business's
    identity, the day it describes up to, and its records."""

    model_config = example({"business_id": "91310000MA1K4ABC2X", "as_of": "2026-12-07",
                            "records": [{"utility": "electricity", "period_month": "2026-11",
                                         "usage": 1420, "amount_fen": 113600,
                                         "billed_on": "2026-12-05", "due_on": "2026-12-15"}]})
    business_id: StrictStr = Field(min_length=1, max_length=128)
    as_of: StrictStr = Field(min_length=10, max_length=10, description="YYYY-MM-DD")
    records: list[dict] = Field(max_length=200_000)
# -- collections ------------------------------------------------------------------------------

class CollectorIn(Body):
    collector: StrictStr = Field(min_length=1, max_length=200,
                                 description="the collector's id (an API key id), or 'me'")


class ContactAttemptIn(Body):
    channel: ContactChannel
    party: ContactParty = Field(description="who was contacted: only the borrower is allowed; "
                                            "any other party is refused (409) and audited")
    outcome: ContactOutcome
    note: StrictStr = Field("", max_length=500)
    promise_amount: Optional[StrictInt] = Field(
        None, gt=0, le=MAX_AMOUNT, description="fen; with outcome promise_to_pay only")
    promise_due: Optional[IsoDate] = Field(
        None, description="today to 30 days ahead; with outcome promise_to_pay only")


class PromiseIn(Body):
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT, description="fen")
    due_on: IsoDate = Field(description="today to 30 days ahead")


class RestructuringIn(Body):
    kind: RestructuringKind
    affordable_instalment: StrictInt = Field(
        gt=0, le=MAX_AMOUNT, description="fen: the most the borrower can pay per instalment")
    periods: Optional[StrictInt] = Field(None, ge=1, le=60, description="reschedule: new term")
    extra_periods: Optional[StrictInt] = Field(None, ge=1, le=60,
                                               description="extend: periods added")
    annual_rate: Optional[StrictStr] = Field(
        None, max_length=20, pattern=r"^\d+(\.\d+)?$",
        description="decimal string, at most the loan's rate and within the rate cap")


class CollectionsRunIn(Body):
    business_date: Optional[IsoDate] = Field(None, description="default: today")
