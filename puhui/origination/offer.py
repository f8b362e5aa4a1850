"""Offers the borrower sees and the contract their acceptance makes.

Why the offer carries its whole quote: what was disclosed (schedule, fees, APR by the IRR method)
is what the borrower agrees to, so it is stored as shown and, when read back, rebuilt from the
terms and compared; a stored offer that no longer matches its own terms is refused.  The contract
freezes offer, borrower and account into one JSON document and records its SHA-256, so any later
change to any term is detectable.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from puhui.errors import InvalidApplication, InvalidRateCap, OfferExpired
from puhui.loans.caps import cap_from_dict, cap_to_dict
from puhui.loans.cost import CONVENTIONS, LEGACY_APR_CONVENTION, Quote, quote
from puhui.loans.product import LoanProduct, RateCap
from puhui.loans.schedule import Instalment, RepaymentSchedule
from puhui.parties import records as rec
from puhui.decision.outcome import Decision, Outcome
from puhui.parties.applicant import Applicant, BankAccount, check_account_binding

GOVERNING_TERMS_VERSION = "puhui-loan-terms-v1"
_DISCLOSED = ("apr", "effective_annual_rate", "upfront_fee", "total_interest", "total_fees",
              "total_repayable", "net_disbursed")


@dataclass(frozen=True, slots=True)
class Offer:
    """A priced, time-limited offer; `product` already carries the offered rate."""

    offer_id: str
    application_id: str
    product: LoanProduct
    principal: int
    start: date
    quote: Quote
    created_at: datetime
    expires_at: datetime
    #: The cap the all-in cost was checked against, with the setting it came from.
    rate_cap: RateCap | None = None

    def __post_init__(self) -> None:
        if self.rate_cap is not None and not isinstance(self.rate_cap, RateCap):
            raise InvalidApplication("an offer's rate_cap must be a RateCap")
        for name in ("offer_id", "application_id"):
            object.__setattr__(self, name, rec.text(getattr(self, name), name, max_len=200))
        if not isinstance(self.product, LoanProduct) or not isinstance(self.quote, Quote):
            raise InvalidApplication("an offer needs a LoanProduct and its Quote")
        rec.fen(self.principal, "principal", minimum=1)
        rec.day(self.start, "start")
        schedule = self.quote.schedule
        if (schedule.product, schedule.principal, schedule.start) != \
                (self.product, self.principal, self.start):
            raise InvalidApplication("the quote is not for this offer's product, principal and "
                                     "start")
        object.__setattr__(self, "created_at", rec.utc(self.created_at, "created_at"))
        object.__setattr__(self, "expires_at", rec.utc(self.expires_at, "expires_at"))
        if self.expires_at <= self.created_at:
            raise InvalidApplication("an offer must expire after it is made")

    @property
    def upfront_fee(self) -> int:
        return self.quote.schedule.upfront_fee

    @property
    def total_interest(self) -> int:
        return self.quote.schedule.total_interest

    @property
    def total_fees(self) -> int:
        return self.quote.schedule.total_fees

    @property
    def total_repayable(self) -> int:
        return self.quote.schedule.total_repayment

    @property
    def net_disbursed(self) -> int:
        return self.principal - self.upfront_fee

    def schedule_rows(self) -> list[dict]:
        """The instalments as shown to the borrower, with the principal left after each."""
        rows, balance = [], self.principal
        for i in self.quote.schedule.instalments:
            balance -= i.principal
            rows.append({"number": i.number, "start": i.start.isoformat(),
                         "due_date": i.due.isoformat(), "principal": i.principal,
                         "interest": i.interest, "fee": i.fee, "payment": i.total,
                         "balance_after": balance})
        return rows

    def to_dict(self) -> dict:
        cap = {} if self.rate_cap is None else {"rate_cap": cap_to_dict(self.rate_cap)}
        return {**cap, "offer_id": self.offer_id, "application_id": self.application_id,
                "product": self.product.to_dict(), "principal": self.principal,
                "start": self.start.isoformat(), "apr": str(self.quote.apr),
                "apr_convention": self.quote.convention,
                "effective_annual_rate": str(self.quote.effective_annual_rate),
                "upfront_fee": self.upfront_fee, "total_interest": self.total_interest,
                "total_fees": self.total_fees, "total_repayable": self.total_repayable,
                "net_disbursed": self.net_disbursed,
                "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "schedule": self.schedule_rows()}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Offer":
        """The offer rebuilt from its terms; refused unless the stored schedule (and any stored
        disclosure figure) is exactly what the terms give.

        The APR is recomputed under the convention the offer names; an offer stored without one
        was disclosed under the convention used before conventions were named."""
        what = "offer"
        convention, product, principal, start = _stored_terms(d)
        try:
            cap = cap_from_dict(d["rate_cap"]) if d.get("rate_cap") is not None else None
        except InvalidRateCap as exc:
            raise InvalidApplication(f"{what}: {exc}") from None
        offer = cls(rec.typed(d, "offer_id", str, what), rec.typed(d, "application_id", str, what),
                    product, principal, start,
                    quote(product, principal, start, convention=convention),
                    rec.parse_utc(d["created_at"], "created_at"),
                    rec.parse_utc(d["expires_at"], "expires_at"), cap)
        rebuilt = offer.to_dict()
        if list(rec.typed(d, "schedule", (list, tuple), what)) != rebuilt["schedule"]:
            raise InvalidApplication(f"offer {offer.offer_id}: the stored schedule does not match "
                                     "the one its terms give")
        wrong = [k for k in _DISCLOSED if k in d and d[k] != rebuilt[k]]
        if wrong:
            raise InvalidApplication(f"offer {offer.offer_id}: stored {', '.join(wrong)} do not "
                                     "match the terms")
        return offer

    @classmethod
    def as_stored(cls, d: Mapping) -> Offer:
        """The offer read back as it was stored: its schedule and disclosed figures taken from
        the record, not recomputed from the terms.

        For the payout, which needs the terms and the schedule but checks the schedule where it
        is used: the loan builds its own from the same terms and refuses to open on one that
        differs (`Disbursement.contracted`).  `from_dict` is the reader that proves a stored
        offer is what its terms give (acceptance uses it).  A record without its disclosed
        figures (written before they were stored) is read by `from_dict`."""
        what = "offer"
        if any(k not in d for k in _DISCLOSED):
            return cls.from_dict(d)
        convention, product, principal, start = _stored_terms(d)
        try:
            cap = cap_from_dict(d["rate_cap"]) if d.get("rate_cap") is not None else None
            instalments = tuple(
                Instalment(rec.typed(r, "number", int, what), rec.parse_day(r["start"], "start"),
                           rec.parse_day(r["due_date"], "due_date"),
                           rec.typed(r, "principal", int, what),
                           rec.typed(r, "interest", int, what), rec.typed(r, "fee", int, what))
                for r in rec.typed(d, "schedule", (list, tuple), what))
            apr, rate = Decimal(d["apr"]), Decimal(d["effective_annual_rate"])
        except InvalidRateCap as exc:
            raise InvalidApplication(f"{what}: {exc}") from None
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise InvalidApplication(f"{what}: unreadable stored schedule or figures ({exc})") \
                from None
        schedule = RepaymentSchedule(product, principal, start,
                                     rec.typed(d, "upfront_fee", int, what), instalments)
        if schedule.total_principal != principal or not instalments \
                or instalments[0].start != start \
                or schedule.upfront_fee != product.upfront_fee(principal):
            raise InvalidApplication(f"offer {d['offer_id']}: the stored schedule does not repay "
                                     "its principal from its start with its product's fee")
        return cls(rec.typed(d, "offer_id", str, what), rec.typed(d, "application_id", str, what),
                   product, principal, start, Quote(schedule, apr, rate, convention),
                   rec.parse_utc(d["created_at"], "created_at"),
                   rec.parse_utc(d["expires_at"], "expires_at"), cap)


def make_offer(offer_id: str, application_id: str, product: LoanProduct, decision: Decision,
               start: date, created_at: datetime, valid_for: timedelta = timedelta(days=7),
               cap: RateCap | None = None) -> Offer:
    """An offer of an approved decision's amount at its rate, valid for `valid_for`.

    Raises `RateCapExceeded` when the all-in cost (IRR, fees included) is above `cap`; the
    offer keeps `cap` (with its provenance) as what its cost was checked against."""
    if not isinstance(decision, Decision) or decision.outcome is not Outcome.APPROVE:
        outcome = getattr(getattr(decision, "outcome", None), "value", decision)
        raise InvalidApplication(f"only an approval can become an offer, not {outcome!r}")
    if not isinstance(valid_for, timedelta) or valid_for <= timedelta(0):
        raise InvalidApplication(f"valid_for must be a positive timedelta, got {valid_for!r}")
    offered = product if product.annual_rate == decision.annual_rate else \
        product.with_terms(annual_rate=decision.annual_rate)
    created = rec.utc(created_at, "created_at")
    return Offer(offer_id, application_id, offered, decision.amount, start,
                 quote(offered, decision.amount, start, cap), created, created + valid_for,
                 cap)


@dataclass(frozen=True, slots=True)
class Contract:
    """The accepted terms as one JSON document and its SHA-256 (`contract_hash`)."""

    contract_id: str
    offer_id: str
    application_id: str
    content: dict = field(hash=False)
    content_hash: str

    def __post_init__(self) -> None:
        for name in ("contract_id", "offer_id", "application_id", "content_hash"):
            object.__setattr__(self, name, rec.text(getattr(self, name), name, max_len=200))
        if not isinstance(self.content, Mapping):
            raise InvalidApplication("contract content must be a mapping")
        object.__setattr__(self, "content", copy.deepcopy(dict(self.content)))

    def to_dict(self) -> dict:
        return {"contract_id": self.contract_id, "offer_id": self.offer_id,
                "application_id": self.application_id, "content": copy.deepcopy(self.content),
                "content_hash": self.content_hash}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Contract":
        what = "contract"
        rec.mapping(d, what, ("contract_id", "offer_id", "application_id", "content",
                              "content_hash"))
        return cls(*(rec.typed(d, k, str, what) for k in ("contract_id", "offer_id",
                                                           "application_id")),
                   rec.typed(d, "content", Mapping, what), rec.typed(d, "content_hash", str, what))


def canonical_json(content: Mapping[str, Any]) -> bytes:
    """The one byte form a contract is hashed in: sorted keys, no spaces, UTF-8 text as is."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def contract_hash(content: Mapping) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def draft_contract(contract_id: str, offer: Offer, applicant: Applicant, account: BankAccount,
                   accepted_at: datetime, *, terms_version: str = GOVERNING_TERMS_VERSION
                   ) -> Contract:
    """The contract the borrower's acceptance of `offer` at `accepted_at` makes.

    The contract is the legal record, so borrower and account details are kept in full.  Refused
    with `OfferExpired` at or after the offer's expiry, and with `InvalidApplication` when the
    acceptance predates the offer or the account is not the borrower's (see
    `check_account_binding`)."""
    accepted = rec.utc(accepted_at, "accepted_at")
    if accepted >= offer.expires_at:
        raise OfferExpired(f"offer {offer.offer_id} expired at {offer.expires_at.isoformat()}; "
                           f"it was accepted at {accepted.isoformat()}")
    if accepted < offer.created_at:
        raise InvalidApplication(f"offer {offer.offer_id} cannot be accepted before it was made")
    binding = check_account_binding(applicant, account, checked_at=accepted)
    if not binding.passed:
        raise InvalidApplication(f"the repayment account cannot be used: {binding.reason}")
    content = {"contract_id": rec.text(contract_id, "contract_id", max_len=200),
               "offer": offer.to_dict(), "borrower": applicant.to_dict(),
               "repayment_account": account.to_dict(), "accepted_at": accepted.isoformat(),
               "governing_terms_version": rec.text(terms_version, "terms_version")}
    return Contract(content["contract_id"], offer.offer_id, offer.application_id, content,
                    contract_hash(content))


def verify_contract(contract: Contract) -> bool:
    """Whether the content still hashes to the recorded hash and names the same contract,
    offer and application as the record."""
    try:
        content = contract.content
        same_ids = (content["contract_id"] == contract.contract_id
                    and content["offer"]["offer_id"] == contract.offer_id
                    and content["offer"]["application_id"] == contract.application_id)
        return same_ids and hmac.compare_digest(contract_hash(content), contract.content_hash)
    except (KeyError, TypeError, ValueError):
        return False


def _stored_terms(d: Mapping) -> tuple[str, LoanProduct, int, date]:
    """A stored offer's shape checked, and its APR convention, product, principal and start."""
    what = "offer"
    rec.mapping(d, what, ("offer_id", "application_id", "product", "principal", "start",
                          "created_at", "expires_at", "schedule"),
                _DISCLOSED + ("apr_convention", "rate_cap"))
    convention = d.get("apr_convention", LEGACY_APR_CONVENTION)
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise InvalidApplication(f"offer: unknown apr_convention {convention!r}")
    product = LoanProduct.from_dict(dict(rec.typed(d, "product", Mapping, what)))
    return (convention, product, rec.typed(d, "principal", int, what),
            rec.parse_day(d["start"], "start"))
