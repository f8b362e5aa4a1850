"""A synthetic book of small businesses run through the whole platform.

Each business is registered, gives consent, binds its account and applies; the decider
approves, declines or refers; approved borrowers accept, sign and are paid out (some by
entrusted payment to a supplier); then months pass, with the daily auto-debit run collecting
instalments from prompt payers, late payers paying days late, defaulters stopping, loans
written off at 120 days past due, the daily collections review opening, escalating and closing
cases, and the end of day accruing and aging the book.  Seeded, so
a run is reproducible; it uses the same services as the API, so it exercises what a lender runs.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

from puhui.errors import PuhuiError
from puhui.loans.events import WriteOff
from puhui.loans.state import LoanStatus
from puhui.parties.consent import DataScope
from puhui.parties.synthetic import account_for, small_business
from puhui.services import applicants, applications, collections, line_refresh, lines, loans
from puhui.services.access import SYSTEM, Perm, Principal, Role
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

DEMO_PARTNER = Principal("sim-partner", Role.PARTNER,
                         frozenset({Perm.APPLY, Perm.ACCEPT, Perm.READ, Perm.REPAY,
                                    Perm.DISBURSE}), "P-DEMO")
BEHAVIOURS = ("prompt",) * 6 + ("late", "late", "defaulter")
WRITE_OFF_DPD = 120
#: The share of approved businesses that take a revolving credit line instead of a term loan,
#: the chance a line's borrower draws again on a given day, and the product they take.
LINE_SHARE = 0.25
REDRAW_CHANCE = 0.05
LINE_PRODUCT = "SME-RV-180"


@dataclass
class Borrower:
    applicant_id: str
    behaviour: str
    card: str
    paid_instalments: int = 0
    stops_after: int = 0          # a defaulter pays this many instalments, then nothing


@dataclass
class PlatformSimulation:
    start: date
    end: date
    funnel: Counter = field(default_factory=Counter)
    behaviours: Counter = field(default_factory=Counter)
    loan_ids: list[str] = field(default_factory=list)
    eod_failures: dict[str, str] = field(default_factory=dict)
    collected: int = 0
    failed_debits: int = 0
    written_off: int = 0
    line_ids: list[str] = field(default_factory=list)
    cases_opened: int = 0
    cases_open: int = 0
    #: Changes the line policy made to the lines (limits, prices, freezes) on fresh data.
    line_changes: int = 0


def _decline(by_card: dict[str, Borrower], rng: random.Random) -> Callable[[str, int], str | None]:
    def decline(card: str, amount: int) -> str | None:
        who = by_card.get(card)
        if who is None or who.behaviour == "prompt":
            return None
        if who.behaviour == "late":
            return None if rng.random() < 0.2 else "insufficient funds"
        return "account frozen" if who.paid_instalments >= who.stops_after else None
    return decline


#: What the simulated applicants consent to: identity and every business data source.
CONSENTED = [scope.value for scope in DataScope]


def simulate_platform(platform: Platform, businesses: int = 150, days: int = 180,
                      start: date | None = None, seed: int = 7,
                      progress: Callable[[int], None] | None = None) -> PlatformSimulation:
    """Originate over the first month and service through `days`; the platform's clock must be
    a ManualClock (it is moved day by day) and its gateway a SandboxGateway."""
    if not isinstance(platform.clock, ManualClock) or not isinstance(platform.gateway, SandboxGateway):
        raise PuhuiError("simulate_platform needs a ManualClock and a SandboxGateway")
    rng = random.Random(seed)
    start = start or date(2026, 1, 5)
    result = PlatformSimulation(start, start + timedelta(days=days))
    by_card: dict[str, Borrower] = {}
    platform.gateway.decline = _decline(by_card, random.Random(seed + 1))
    arrivals: dict[int, int] = Counter(rng.randint(0, min(27, days - 1)) for _ in range(businesses))
    terms = [p.code for p in platform.term_products()]
    # lines draw on their own stream, so the term loans of a seed stay what they were
    line_rng = random.Random(seed + 2)
    offers_lines = LINE_PRODUCT in platform.products
    for offset in range(days):
        today = start + timedelta(days=offset)
        platform.clock.set(at_business_date(today, 9))
        for _ in range(arrivals.get(offset, 0)):
            as_line = offers_lines and line_rng.random() < LINE_SHARE
            _originate(platform, rng, today, terms, by_card, result, as_line)
        _redraw(platform, line_rng, result)
        platform.clock.set(at_business_date(today, 18))
        seen = len(platform.gateway.transfers)
        with platform.unit() as session:
            summary = loans.auto_debit(platform, session, SYSTEM, today)
        result.collected += summary["amount_collected"]
        result.failed_debits += summary["failed"]
        _count_paid(platform, by_card, seen)
        _write_off(platform, result, today)
        with platform.unit() as session:
            review = collections.run_daily(platform, session, SYSTEM, today)
        result.cases_opened += review["opened"]
        result.cases_open = review["open_cases"]
        with platform.unit() as session:
            applications.expire_stale(platform, session, SYSTEM)
        report = platform.book.end_of_day(today)
        result.eod_failures.update(report.failures)
        with platform.unit() as session:  # lines expire, repaid principal is available again
            lines.sync_lines(platform, session, SYSTEM, today)
        if platform.line_monitor is not None and offset % 7 == 6:
            # once a week, the lines follow their businesses' fresh data (docs/line-policy.md)
            refreshed = line_refresh.refresh_cycle(platform, platform.line_monitor, today)
            result.line_changes += refreshed["lines_changed"]
        if progress:
            progress(1)
    return result


def _originate(platform: Platform, rng: random.Random, today: date, terms: list[str],
               by_card: dict[str, Borrower], result: PlatformSimulation,
               as_line: bool = False) -> None:
    business = small_business(rng, today)
    account = account_for(rng, business)
    product = rng.choice(terms)
    if as_line:
        product = LINE_PRODUCT
    amount = max(20_000_00, min(int(business.monthly_revenue * rng.uniform(0.5, 4)) // 100_00 * 100_00,
                                1_000_000_00))
    actor = DEMO_PARTNER
    try:
        with platform.unit() as session:
            applicant = applicants.register_applicant(platform, session, actor, business)
            applicant_id = applicant["applicant_id"]
            applicants.grant_consent(platform, session, actor, applicant_id, "credit_assessment",
                                     CONSENTED)
            bound = applicants.bind_account(platform, session, actor, applicant_id, account)
            row = applications.apply(platform, session, actor, applicant_id, product, amount,
                                     "working capital")
            result.funnel[row.status] += 1
            if row.status != "offered":
                return
            contract = applications.accept_offer(platform, session, actor, row.application_id,
                                                 bound["account_id"])
            applications.sign_contract(platform, session, actor, contract["contract_id"],
                                       contract["content_hash"])
            entrusted = rng.random() < 0.3
            if as_line:  # a line is watched on fresh data: the borrower consents to that too
                applicants.grant_consent(platform, session, actor, applicant_id,
                                         "post_loan_monitoring", CONSENTED)
                line = lines.grant(platform, session, SYSTEM, contract["contract_id"],
                                   key=f"sim-grant:{contract['contract_id']}")
                payout = lines.draw(platform, session, actor, line["line_id"],
                                    max(line["limit"] // 2, 100_00), key="sim-draw-0")
                result.line_ids.append(line["line_id"])
                result.funnel["line_granted"] += 1
            else:
                payout = loans.disburse(
                    platform, session, actor, contract["contract_id"],
                    "entrusted" if entrusted else "bound_account",
                    "华东建材供应链有限公司" if entrusted else None,
                    "3100" + f"{rng.randint(0, 10**15):016d}" if entrusted else None,
                    f"INV-{rng.randint(10**7, 10**8 - 1)}" if entrusted else "")
    except PuhuiError as exc:
        result.funnel[f"error: {type(exc).__name__}"] += 1
        return
    behaviour = rng.choice(BEHAVIOURS)
    by_card[account.card_number] = Borrower(applicant_id, behaviour, account.card_number,
                                            stops_after=rng.randint(0, 3))
    result.behaviours[behaviour] += 1
    result.funnel["disbursed"] += 1
    result.loan_ids.append(payout["loan_id"])


def _redraw(platform: Platform, rng: random.Random, result: PlatformSimulation) -> None:
    """Now and then a line's borrower draws part of what is available (a new loan), or pays
    back half of what a draw owes (随借随还), which gives the line its principal back."""
    today = platform.clock.now().date()
    for line_id in result.line_ids:
        draws, repays = rng.random() < REDRAW_CHANCE, rng.random() < REDRAW_CHANCE
        try:
            with platform.unit() as session:
                line = lines.get_line(platform, session, SYSTEM, line_id)
                amount = line["available"] // 4 // 100_00 * 100_00
                if draws and line["status"] == "active" and amount >= 100_00:
                    drawn = lines.draw(platform, session, DEMO_PARTNER, line_id, amount,
                                       key=f"sim-draw-{line['version']}")
                    result.loan_ids.append(drawn["loan_id"])
                    result.funnel["line_draws"] += 1
                owing = [x for x in line["loans"] if x["principal_unrepaid"] and
                         x["status"] == "active"]
                if repays and owing:
                    loan_id = owing[0]["loan_id"]
                    payoff = loans.loan_view(platform, session, SYSTEM, loan_id)["payoff_amount"]
                    loans.repay(platform, session, DEMO_PARTNER, loan_id, max(payoff // 2, 1),
                                key=f"sim-repay:{today.isoformat()}")
                    result.funnel["line_repayments"] += 1
        except PuhuiError as exc:
            result.funnel[f"line refused: {type(exc).__name__}"] += 1


def _count_paid(platform: Platform, by_card: dict[str, Borrower], seen: int) -> None:
    """Count today's successful pulls (the rail's transfers after the first `seen`)."""
    for transfer in list(platform.gateway.transfers.values())[seen:]:
        if transfer.reference.startswith("AD-") and transfer.ok and transfer.account in by_card:
            by_card[transfer.account].paid_instalments += 1


def _write_off(platform: Platform, result: PlatformSimulation, today: date) -> None:
    for loan_id in result.loan_ids:
        account = platform.book.load(loan_id)
        if account.status is LoanStatus.ACTIVE and account.days_past_due(today) >= WRITE_OFF_DPD:
            platform.book.apply(loan_id, WriteOff(f"writeoff:{loan_id}", today,
                                                  f"{WRITE_OFF_DPD} days past due"))
            result.written_off += 1
