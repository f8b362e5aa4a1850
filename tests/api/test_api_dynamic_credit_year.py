"""A year of three borrowers through the public API and the scheduler (issue 15's evidence).

One grows (its line rises when its electricity use jumps; its price falls after six months
repaid on time once the lines' repayment record is wired), one collapses (its sales fall by
more than half: the line freezes; it misses an instalment: warnings, reminders, a collections
case, a broken promise, a restructuring approved by a second officer), one is written off by
two officers and then pays something back.  Monitoring data arrives through
`POST /v1/applicants/{id}/data/{scope}` under a `post_loan_monitoring` consent.  The scheduler
ticks once a day at 10:00 in the business time zone on a hand-moved clock and runs every daily
job; after each day the ledger verifies and balances, and what happened that day is compared
with the day it had to happen, exactly once.  On two days every job is cut off after its work
and run again (by the scheduler's retry and by hand): no reminder is sent twice, no line
changes twice.  SQLite only: the year is about the book's rules, and takes about a minute.
"""

from __future__ import annotations

import random
import time as _time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from puhui.api import create_app
from puhui.parties.synthetic import account_for, small_business
from puhui.risk.panel import add_months
from puhui.services import access
from puhui.services import lines as lines_service
from puhui.services.clock import BUSINESS_ZONE, ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform
from puhui.services.reevaluation import LineMonitor
from puhui.services.scheduler import JOBS, Schedule, Scheduler
from puhui.store.job_runs import FAILED, SUCCEEDED

from api_samples import START

END = START + timedelta(days=365)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)


def electricity(business_id: str, usages: list[int], as_of: date) -> dict[str, Any]:
    """One electricity bill a month, the last for the month before `as_of`'s."""
    last = add_months(as_of.replace(day=1), -1)
    records = []
    for i, usage in enumerate(usages):
        month = add_months(last, i - len(usages) + 1)
        billed = add_months(month, 1).replace(day=5)
        records.append({"utility": "electricity", "period_month": month.strftime("%Y-%m"),
                        "usage": usage, "amount_fen": usage * 80,
                        "billed_on": billed.isoformat(),
                        "due_on": (billed + timedelta(days=10)).isoformat(),
                        "paid_on": (billed + timedelta(days=2)).isoformat()})
    return {"business_id": business_id, "as_of": as_of.isoformat(), "records": records}


def sales(business_id: str, monthly: list[int], as_of: date) -> dict[str, Any]:
    """One order a month of the given amounts, the last in the month before `as_of`'s."""
    last = add_months(as_of.replace(day=1), -1)
    records = []
    for i, amount in enumerate(monthly):
        month = add_months(last, i - len(monthly) + 1)
        records.append({"order_id": f"O{month:%Y%m}", "ordered_on": month.replace(day=10)
                        .isoformat(), "channel": "pos", "amount_fen": amount,
                        "customer_hash": "ab" * 16, "refunded": False})
    return {"business_id": business_id, "as_of": as_of.isoformat(), "records": records}


class Book:
    """Reads of what the jobs and the API did, for the day-by-day checks."""

    def __init__(self, platform) -> None:
        self.platform = platform

    def rows(self, sql: str, **params: Any) -> list[tuple]:
        with self.platform.read() as session:
            return [tuple(r) for r in session.execute(text(sql), params)]

    def snapshot(self) -> dict[str, list[tuple]]:
        return {
            "line_events": self.rows("SELECT line_id, kind, event_key, occurred_on "
                                     "FROM line_events ORDER BY id"),
            "notifications": self.rows("SELECT DISTINCT key, kind, applicant_id "
                                       "FROM notifications"),
            "sent": self.rows("SELECT notification_id, channel, attempt FROM "
                              "notification_deliveries WHERE outcome = 'sent'"),
            "statuses": self.rows("SELECT loan_id, as_of, status, previous "
                                  "FROM loan_watch_statuses ORDER BY id"),
            "actions": self.rows("SELECT key, kind, status FROM warning_actions ORDER BY id"),
            "cases": self.rows("SELECT case_id, loan_id, status, opened_on, stage_name, "
                               "escalations, closed_on, close_reason FROM collection_cases"),
            "requests": self.rows("SELECT request_id, loan_id, operation, status, maker, "
                                  "checker FROM servicing_requests"),
            "promises": self.rows("SELECT promise_id, status FROM collection_promises"),
        }


class Client:
    """The public API as a partner and staff call it, on a platform with a hand-moved clock."""

    def __init__(self, platform, clock: ManualClock, gateway: SandboxGateway) -> None:
        self.platform, self.clock, self.gateway = platform, clock, gateway
        with platform.unit() as session:
            self.keys = {
                "admin": access.issue_key(session, "ops", "admin").token,
                "officer": access.issue_key(session, "officer", "credit_officer").token,
                "checker": access.issue_key(session, "second officer",
                                            "credit_officer").token,
                "partner": access.issue_key(session, "pos partner", "partner", "P-POS").token,
            }
        self.client = TestClient(create_app(platform), raise_server_exceptions=False)
        self.rng = random.Random(11)
        self.n = 0

    def post(self, path: str, json: Any = None, who: str = "partner", key: str | None = None):
        self.n += 1
        headers = {"Authorization": f"Bearer {self.keys[who]}",
                   "Idempotency-Key": key or f"k{self.n}"}
        return self.client.post(path, json=json, headers=headers)

    def get(self, path: str, who: str = "partner", **kw: Any):
        return self.client.get(path, headers={"Authorization": f"Bearer {self.keys[who]}"},
                               **kw)

    def ok(self, response, status: int = 201) -> dict:
        assert response.status_code == status, response.text
        return response.json()

    def signed(self, amount: int) -> dict:
        """A business the shipped policy approves (a too young one is declined and the next
        one tried), with its credit and monitoring consents, bound account and signed
        contract."""
        for _ in range(6):
            business = small_business(self.rng, START, monthly_revenue=8_000_000)
            applicant_id = self.ok(self.post("/v1/applicants", business.to_dict()))[
                "applicant_id"]
            for purpose, scopes in (("credit_assessment", ["identity", "bank_account"]),
                                    ("post_loan_monitoring", ["utility", "sales"])):
                self.ok(self.post(f"/v1/applicants/{applicant_id}/consents",
                                  {"purpose": purpose, "scopes": scopes}))
            account = account_for(self.rng, business)
            account_id = self.ok(self.post(
                f"/v1/applicants/{applicant_id}/bank-accounts",
                {"card_number": account.card_number, "holder_name": account.holder_name}))[
                "account_id"]
            application = self.ok(self.post("/v1/applications", {
                "applicant_id": applicant_id, "product_code": "SME-EI-12", "amount": amount,
                "submit": True}))
            if application["status"] == "offered":
                break
        assert application["status"] == "offered", application
        contract = self.ok(self.post(
            f"/v1/applications/{application['application_id']}/accept",
            {"account_id": account_id}))
        self.ok(self.post(f"/v1/contracts/{contract['contract_id']}/sign",
                          {"content_hash": contract["content_hash"]}), 200)
        return {"applicant_id": applicant_id, "uscc": business.uscc,
                "card": account.card_number, "contract_id": contract["contract_id"]}

    def at(self, day: date, hh: int, mm: int = 0) -> None:
        self.clock.set(local(day, hh, mm))

    def ledger_balances(self) -> None:
        verified = self.ok(self.get("/v1/ledger/verify", "admin"), 200)
        assert verified["verified_entries"] > 0
        trial = self.ok(self.get("/v1/ledger/trial-balance", "admin"), 200)
        assert trial["total"] == 0 == sum(trial["accounts"].values())


# The calendar of the year (START is Monday 2 March 2026; SME-EI-12 falls due on the 20th).
ELECTRICITY_PUSH = date(2026, 3, 16)      # the grower's bills: February's use up 41%
SALES_PUSH = date(2026, 5, 6)             # the collapser's April sales at 30% of the year's;
                                          # its debits refused from now: 20 May is missed
PROMISE_MADE = date(2026, 5, 25)
PROMISE_DUE = date(2026, 5, 28)
OFFER_DAY = date(2026, 6, 2)              # reschedule offered, accepted, approved
GROWER_SECOND_PUSH = date(2026, 9, 7)     # six instalments (20 Mar - 20 Aug) paid on time
WRITE_OFF_DAY = date(2026, 10, 5)
RECOVERY_DAY = date(2026, 11, 16)
# the days whose jobs are all cut off after their work and run again: the collapser's first
# day past due (its case, reminders, watch status) and the day its line is cut (alert)
KILL_DAYS = (date(2026, 5, 21), date(2026, 5, 22))


class Killed(Exception):
    """The job's process dying after the work it did had committed."""


def killed_after(job):
    def run(platform, day):
        job(platform, day)
        raise Killed(f"{job.__name__} killed after its work")
    return run


def monthly(day: int, first: date, last: date) -> list[str]:
    """The `day`-th of every month from `first`'s month to `last`'s, as ISO text."""
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month.replace(day=day).isoformat())
        month = add_months(month, 1)
    return out


@dataclass
class Year:
    api: Client
    book: Book
    grower: dict
    collapser: dict
    recoverer: dict
    log: dict[date, dict[str, list]]
    runs: dict[date, list]
    rerun: dict[date, dict[str, Any]]
    balanced_days: int
    elapsed: float


@pytest.fixture(scope="module")
def year(tmp_path_factory) -> Iterator[Year]:
    started = _time.monotonic()
    url = f"sqlite:///{tmp_path_factory.mktemp('year') / 'year.sqlite'}"
    clock = ManualClock(at_business_date(START))
    declined: set[str] = set()
    gateway = SandboxGateway(decline=lambda account, amount: (
        "insufficient funds" if account in declined else None))
    p = Platform.open(url, clock=clock, gateway=gateway)
    p.line_monitor = LineMonitor.for_platform(p)
    api = Client(p, clock, gateway)
    book = Book(p)
    try:
        grower, collapser, recoverer = (api.signed(10_000_000) for _ in range(3))
        for who, amount in ((grower, 3_000_000), (collapser, 5_000_000)):
            who["line_id"] = api.ok(api.post(f"/v1/contracts/{who['contract_id']}/line",
                                             {}))["line_id"]
            who["loan_id"] = api.ok(api.post(f"/v1/lines/{who['line_id']}/draws",
                                             {"amount": amount}))["loan_id"]
        recoverer["loan_id"] = api.ok(api.post(
            f"/v1/contracts/{recoverer['contract_id']}/disbursements",
            {"mode": "bound_account"}))["loan_id"]
        declined.add(recoverer["card"])
        api.ledger_balances()

        def scripted(day: date) -> None:
            """What people do on `day`, at 11:00 (after the morning's jobs)."""
            api.at(day, 11)
            if day == ELECTRICITY_PUSH:
                pushed = api.ok(api.post(f"/v1/applicants/{grower['applicant_id']}/data/utility",
                                         electricity(grower["uscc"], [1000, 1010, 1420], day),
                                         key="push-grower-1"))
                grower["first_push"] = pushed
            if day == GROWER_SECOND_PUSH:
                grower["second_push"] = api.ok(api.post(
                    f"/v1/applicants/{grower['applicant_id']}/data/utility",
                    electricity(grower["uscc"], [1000, 1010, 1420, 1440, 1460, 1480, 1500,
                                                 1520, 1560], day), key="push-grower-2"))
            if day == SALES_PUSH:
                declined.add(collapser["card"])
                collapser["push"] = api.ok(api.post(
                    f"/v1/applicants/{collapser['applicant_id']}/data/sales",
                    sales(collapser["uscc"], [1_000_000] * 12 + [300_000], day),
                    key="push-collapser-1"))
            if day == PROMISE_MADE:
                [case] = api.ok(api.get(f"/v1/collections/loans/{collapser['loan_id']}/cases",
                                        "officer"), 200)["items"]
                collapser["case_id"] = case["case_id"]
                collapser["promise"] = api.ok(api.post(
                    f"/v1/collections/cases/{case['case_id']}/promises",
                    {"amount": 100_000, "due_on": PROMISE_DUE.isoformat()}, "officer"))
            if day == OFFER_DAY:
                offer = api.ok(api.post(
                    f"/v1/collections/cases/{collapser['case_id']}/restructuring-offers",
                    {"kind": "extend", "extra_periods": 6, "affordable_instalment": 400_000},
                    "officer"))
                accepted = api.ok(api.post(
                    f"/v1/collections/restructuring-offers/{offer['offer_id']}/accept", None,
                    "officer"), 200)
                request = accepted["operation"]
                assert request["status"] == "pending" and request["applied"] is False
                collapser["self_approval"] = api.post(
                    f"/v1/servicing-requests/{request['request_id']}/approve", None, "officer")
                collapser["approved"] = api.ok(api.post(
                    f"/v1/servicing-requests/{request['request_id']}/approve", None,
                    "checker"), 200)
                collapser["offer"] = offer
                declined.discard(collapser["card"])  # the business pays again
            if day == WRITE_OFF_DAY:
                request = api.ok(api.post(
                    f"/v1/loans/{recoverer['loan_id']}/servicing-requests",
                    {"operation": "write_off", "reason": "200 days past due, no contact",
                     "params": {}}, "officer"))
                assert request["status"] == "pending"
                recoverer["write_off"] = api.ok(api.post(
                    f"/v1/servicing-requests/{request['request_id']}/approve", None,
                    "checker"), 200)
            if day == RECOVERY_DAY:
                recoverer["recovery"] = api.ok(api.post(
                    f"/v1/loans/{recoverer['loan_id']}/servicing-requests",
                    {"operation": "recovery", "reason": "paid by the guarantor",
                     "params": {"amount": 1_000_000}}, "officer"))

        schedule = Schedule.from_env({"PUHUI_SCHEDULE_LINE_REFRESH": "1440"})
        scheduler = Scheduler(p, schedule)
        before = book.snapshot()
        log: dict[date, dict[str, list]] = defaultdict(dict)
        runs: dict[date, list] = {}
        rerun: dict[date, dict[str, Any]] = {}
        balanced_days = 0
        day = START + timedelta(days=1)
        while day <= END:
            api.at(day, 10)
            if day in KILL_DAYS:
                rerun[day] = kill_and_rerun(api, book, schedule, day)
                ran = rerun[day]["runs"]
            else:
                ran = scheduler.tick()
            runs[day] = [(r.job, r.status) for r in ran]
            assert all(r.status == SUCCEEDED for r in ran), [(r.job, r.error) for r in ran]
            scripted(day)
            api.ledger_balances()
            balanced_days += 1
            after = book.snapshot()
            for name, rows in after.items():
                new = [r for r in rows if r not in set(before[name])]
                if new:
                    log[day][name] = new
            before = after
            day += timedelta(days=1)
        yield Year(api, book, grower, collapser, recoverer, log, runs, rerun, balanced_days,
                   _time.monotonic() - started)
    finally:
        api.client.close()
        p.close()


def kill_and_rerun(api: Client, book: Book, schedule: Schedule, day: date) -> dict[str, Any]:
    """The day's jobs, each cut off after doing its work (recorded failed), then retried by the
    scheduler five minutes later, then each run again by hand (as an operator re-running a
    day would), and claimed once more: the state after each step."""
    jobs = {name: killed_after(job) for name, job in JOBS.items()}
    dying = Scheduler(api.platform, schedule, jobs=jobs)
    first = dying.tick()
    after_kill = book.snapshot()
    api.at(day, 10, 5)
    retried = Scheduler(api.platform, schedule).tick()
    after_retry = book.snapshot()
    by_hand = {}
    for name, job in JOBS.items():  # the work itself again, outside the runs' bookkeeping
        if name != "close":
            by_hand[name] = job(api.platform, day)
    after_hand = book.snapshot()
    again = [Scheduler(api.platform, schedule).run_one(name, day)
             for name in ("provision", "auto_debit", "warnings", "collections", "reminders",
                          "line_refresh@0000")]
    return {"killed": [(r.job, r.status, r.error) for r in first], "after_kill": after_kill,
            "after_retry": after_retry, "after_hand": after_hand, "runs": retried,
            "run_one_again": again}


DAILY = ["close", "provision", "auto_debit", "warnings", "collections", "reminders",
         "line_refresh@0000"]
DAYS = (END - START).days
#: Whether the lines' repayment record (ON_TIME_SIX_MONTHS's source) is wired in this tree.
PRICED = hasattr(lines_service, "repayments_of")


def account(year: Year, code: str) -> int:
    """An account's balance in the journal (debits positive)."""
    [(total,)] = year.book.rows("SELECT coalesce(sum(amount), 0) FROM journal_postings "
                                "WHERE account = :code", code=code)
    return total


def line_history(year: Year, who: dict) -> list[tuple[str, str]]:
    """The line's events other than the restorations of repaid principal: (kind, day)."""
    return [(kind, str(on)) for kind, on in year.book.rows(
        "SELECT kind, occurred_on FROM line_events WHERE line_id = :line AND kind != "
        "'principal_restored' ORDER BY seq", line=who["line_id"])]


def restored_on(year: Year, who: dict) -> list[str]:
    return [str(on) for (on,) in year.book.rows(
        "SELECT occurred_on FROM line_events WHERE line_id = :line AND kind = "
        "'principal_restored' ORDER BY seq", line=who["line_id"])]


def notices(year: Year, who: dict, prefix: str = "") -> dict[str, str]:
    """The borrower's notification keys (of `prefix`) and the day each was first recorded."""
    days = {}
    for day in sorted(year.log):
        for key, kind, applicant in year.log[day].get("notifications", []):
            if applicant == who["applicant_id"] and key.startswith(prefix):
                assert key not in days, f"{key} recorded twice"
                days[key] = str(day)
    return days


def status_changes(year: Year, who: dict) -> list[tuple[str, str, str]]:
    return [(str(on), previous, status) for on, status, previous in year.book.rows(
        "SELECT as_of, status, previous FROM loan_watch_statuses WHERE loan_id = :loan AND "
        "status != previous ORDER BY as_of", loan=who["loan_id"])]


def actions(year: Year, who: dict) -> list[tuple[str, str, str]]:
    return [(str(on), kind, status) for on, kind, status in year.book.rows(
        "SELECT as_of, kind, status FROM warning_actions WHERE loan_id = :loan ORDER BY id",
        loan=who["loan_id"])]


def cases(year: Year, who: dict) -> list[tuple]:
    return [tuple(str(x) if x is not None else None for x in row) for row in year.book.rows(
        "SELECT opened_on, status, stage_name, escalations, closed_on, close_reason "
        "FROM collection_cases WHERE loan_id = :loan", loan=who["loan_id"])]


def test_every_job_ran_once_a_day_and_the_ledger_balanced_after_each(year) -> None:
    assert year.balanced_days == DAYS == 365
    for day, ran in year.runs.items():
        assert [job for job, _ in ran] == DAILY and {s for _, s in ran} == {SUCCEEDED}, day
    twice = year.book.rows("SELECT job, business_date FROM job_runs WHERE status = :ok "
                           "GROUP BY job, business_date HAVING count(*) > 1", ok=SUCCEEDED)
    assert twice == []
    assert year.book.rows("SELECT count(*) FROM job_runs WHERE status = :ok",
                          ok=SUCCEEDED) == [(DAYS * len(DAILY),)]
    failed = year.book.rows("SELECT job, business_date FROM job_runs WHERE status = :failed",
                            failed=FAILED)
    assert sorted((job, str(d)) for job, d in failed) == sorted(
        (job, str(day - timedelta(days=1) if job == "close" else day))
        for day in KILL_DAYS for job in DAILY)
    trial = year.api.ok(year.api.get("/v1/ledger/trial-balance", "admin"), 200)
    assert trial["total"] == 0 and trial["accounts"] == {"CNY": 0}
    # the undrawn commitments of the lines (memorandum): the grower's 12,000,000 undrawn; the
    # collapser's frozen line commits nothing
    available = [year.api.ok(year.api.get(f"/v1/lines/{who['line_id']}"), 200)["available"]
                 for who in (year.grower, year.collapser)]
    assert available == [12_000_000, 0]
    assert account(year, "9101") == -account(year, "9102") == 12_000_000


def test_the_grower_s_line_rises_once_the_week_its_electricity_jumps(year) -> None:
    grower = year.grower
    [decision] = grower["first_push"]["reevaluated"]
    assert decision["fired"] == ["ELECTRICITY_JUMP"] and decision["limit"] == 12_000_000
    # the price step, once the lines' repayment record is wired, is the test below's
    repriced = [("price_changed", GROWER_SECOND_PUSH.isoformat())] if PRICED else []
    assert line_history(year, grower) == [("granted", START.isoformat()),
                                          ("draw", START.isoformat()),
                                          ("limit_changed", ELECTRICITY_PUSH.isoformat()),
                                          *repriced]
    # each instalment collected on its due date gives its principal back to the line, once
    assert restored_on(year, grower) == monthly(20, date(2026, 3, 1), date(2027, 2, 1))
    told = notices(year, grower, "line-decision:")
    assert told[f"line-decision:{decision['decision_id']}"] == ELECTRICITY_PUSH.isoformat()
    assert sorted(told.values()) == [ELECTRICITY_PUSH.isoformat()] + [d for _, d in repriced]
    line = year.api.ok(year.api.get(f"/v1/lines/{grower['line_id']}"), 200)
    assert line["limit"] == 12_000_000 and line["drawn"] == 0 and line["status"] == "active"
    # six months on, use is up 2.6%: the jump is released, and the limit does not rise again
    [again] = grower["second_push"]["reevaluated"]
    assert again["released"] == ["ELECTRICITY_JUMP"] and again["limit"] is None
    # repaid on time by auto-debit: reminded at D-3 and D-1 of every instalment, never after
    dues = monthly(20, date(2026, 3, 1), date(2027, 2, 1))
    assert notices(year, grower, "reminder:") == {
        f"reminder:{grower['loan_id']}:{due}:{step}":
            (date.fromisoformat(due) - timedelta(days=lead)).isoformat()
        for due in dues for step, lead in (("D-3", 3), ("D-1", 1))}
    assert status_changes(year, grower) == [] and actions(year, grower) == []
    assert cases(year, grower) == []
    loan = year.api.ok(year.api.get(f"/v1/loans/{grower['loan_id']}"), 200)
    assert loan["status"] == "closed"


def test_the_grower_s_price_falls_after_six_months_repaid_on_time(year) -> None:
    if not PRICED:
        pytest.skip("ON_TIME_SIX_MONTHS reads the line's repayment record through "
                    "puhui.services.lines.repayments_of, which this tree does not have yet")
    grower = year.grower
    [again] = grower["second_push"]["reevaluated"]
    granted = Decimal(year.api.ok(year.api.get(f"/v1/lines/{grower['line_id']}"), 200)[
        "events"][0]["annual_rate"])
    assert again["fired"] == ["ON_TIME_SIX_MONTHS"]
    assert Decimal(again["annual_rate"]) == granted - Decimal("0.005")
    assert line_history(year, grower)[-1] == ("price_changed", GROWER_SECOND_PUSH.isoformat())


def test_the_collapser_is_frozen_warned_reminded_collected_and_restructured(year) -> None:
    collapser = year.collapser
    [decision] = collapser["push"]["reevaluated"]
    assert decision["fired"] == ["SALES_COLLAPSE"] and decision["freeze"] is True
    # frozen the day its sales arrive; cut by half the day the warnings reach alert; still
    # frozen at the year's end (its sales never came back)
    assert line_history(year, collapser) == [
        ("granted", START.isoformat()), ("draw", START.isoformat()),
        ("frozen", SALES_PUSH.isoformat()), ("limit_changed", "2026-05-22")]
    # the missed 20 May instalment gives nothing back; the rescheduled ones do
    assert restored_on(year, collapser) == (monthly(20, date(2026, 3, 1), date(2026, 4, 1))
                                            + monthly(20, date(2026, 6, 1), date(2027, 2, 1)))
    # watch on the first day past due, alert the next (the third refused debit), back to
    # watch after 14 calm days once rescheduled, normal 14 days below the watch exit later
    assert status_changes(year, collapser) == [("2026-05-21", "normal", "watch"),
                                               ("2026-05-22", "watch", "alert"),
                                               ("2026-06-16", "alert", "watch"),
                                               ("2026-07-13", "watch", "normal")]
    assert actions(year, collapser) == [
        ("2026-05-21", "call", "applied"),            # a call queued on its case
        ("2026-05-22", "freeze_line", "skipped"),     # frozen already by the line policy
        ("2026-05-22", "reduce_limit", "applied"),
        ("2026-05-22", "call", "applied"),
        ("2026-05-22", "tighten_collection", "applied"),  # its case one stage up
        # leaving alert does not lift the line policy's freeze: sales have not come back
        ("2026-06-16", "unfreeze_line", "skipped")]
    line = year.api.ok(year.api.get(f"/v1/lines/{collapser['line_id']}"), 200)
    cut = [e for e in line["events"] if e["kind"] == "limit_changed"]
    assert [e["amount"] for e in cut] == [-5_000_000] and line["limit"] == 5_000_000
    # the borrower is told of each change of its line, once
    assert sorted(notices(year, collapser, "line").values()) == [SALES_PUSH.isoformat(),
                                                                   "2026-05-22"]
    assert line["status"] == "frozen"
    # reminders: before each due date; on the due date and after it only for the missed one
    dues = monthly(20, date(2026, 3, 1), date(2026, 12, 1)) + ["2027-01-20", "2027-02-20"]
    expected = {f"reminder:{collapser['loan_id']}:{due}:{step}":
                (date.fromisoformat(due) - timedelta(days=lead)).isoformat()
                for due in dues for step, lead in (("D-3", 3), ("D-1", 1))}
    expected.update({f"reminder:{collapser['loan_id']}:2026-05-20:{step}": on
                     for step, on in (("D0", "2026-05-20"), ("D+1", "2026-05-21"),
                                      ("D+3", "2026-05-23"), ("D+7", "2026-05-27"))})
    assert notices(year, collapser, "reminder:") == expected
    # one case, opened on the first day past due; the alert's tightened collection and the
    # broken promise each escalate it a stage (to a field visit); the restructuring cures it
    assert cases(year, collapser) == [("2026-05-21", "closed", "field_visit", "2",
                                       "2026-06-03", "cured")]
    case_id = collapser["case_id"]
    assert [k for k in notices(year, collapser, "collections-reminder:")] == [
        f"collections-reminder:{case_id}:{d}" for d in
        # every 2 days in the call stage the alert moved it to; a field visit's weekly
        # cadence has no day of its own before the case is cured
        ("2026-05-21", "2026-05-23", "2026-05-25", "2026-05-27")]
    promise = collapser["promise"]
    assert (promise["made_on"], promise["due_on"]) == (PROMISE_MADE.isoformat(),
                                                      PROMISE_DUE.isoformat())
    broken = [d for d in year.log if year.log[d].get("promises") and
              year.log[d]["promises"][0][1] == "broken"]
    assert broken == [PROMISE_DUE + timedelta(days=1)]
    trail = year.api.ok(year.api.get(f"/v1/collections/cases/{case_id}/audit", "officer"),
                        200)["items"]
    acts = Counter(e["action"] for e in trail)
    assert acts["promise_broken"] == acts["restructuring_accepted"] == 1
    # the restructuring went through maker-checker: the maker could not approve it
    assert collapser["self_approval"].status_code == 403
    approved = collapser["approved"]
    assert approved["status"] == "applied" and approved["operation"] == "reschedule"
    requests = year.book.rows("SELECT operation, status, maker != checker FROM "
                              "servicing_requests WHERE loan_id = :loan",
                              loan=collapser["loan_id"])
    assert requests == [("reschedule", "applied", 1)]
    assert [d for d in year.log if "requests" in year.log[d] and any(
        r[1] == collapser["loan_id"] for r in year.log[d]["requests"])] == [OFFER_DAY]
    loan = year.api.ok(year.api.get(f"/v1/loans/{collapser['loan_id']}", "admin"), 200)
    assert loan["status"] == "active" and loan["days_past_due"] == 0
    new = [i for i in loan["schedule"] if i["due_date"] > OFFER_DAY.isoformat()]
    assert len(new) == collapser["offer"]["terms"]["periods"]


def test_the_written_off_loan_recovers_something(year) -> None:
    recoverer = year.recoverer
    # the alert's tightened collection escalates its case once on the way
    assert cases(year, recoverer) == [("2026-03-21", "closed", "agency", "1", "2026-10-06",
                                       "written_off")]
    assert status_changes(year, recoverer) == [("2026-03-21", "normal", "watch"),
                                               ("2026-03-22", "watch", "alert")]
    assert [(op, status, checked) for op, status, checked in year.book.rows(
        "SELECT operation, status, checker IS NOT NULL FROM servicing_requests "
        "WHERE loan_id = :loan ORDER BY requested_at", loan=recoverer["loan_id"])] == [
        ("write_off", "applied", 1), ("recovery", "applied", 0)]
    write_off = recoverer["write_off"]
    assert write_off["status"] == "applied" and write_off["checker"] != write_off["maker"]
    assert recoverer["recovery"]["status"] == "applied"  # a recovery needs no second person
    days = [d for d in year.log for r in year.log[d].get("requests", [])
            if r[1] == recoverer["loan_id"]]
    assert days == [WRITE_OFF_DAY, RECOVERY_DAY]
    loan = year.api.ok(year.api.get(f"/v1/loans/{recoverer['loan_id']}", "admin"), 200)
    assert loan["status"] == "written_off"
    assert account(year, "6051") == -1_000_000  # recoveries, a credit
    # reminded before the first due date and at every after-miss step once, none after the
    # write-off
    reminded = notices(year, recoverer, "reminder:")
    steps = {"D-3": "2026-03-17", "D-1": "2026-03-19", "D0": "2026-03-20"}
    steps.update({f"D+{n}": (date(2026, 3, 20) + timedelta(days=n)).isoformat()
                  for n in (1, 3, 7, 15, 31, 45, 61, 75, 91, 120, 150, 180)})
    assert reminded == {f"reminder:{recoverer['loan_id']}:2026-03-20:{s}": on
                        for s, on in steps.items()}
    assert max(notices(year, recoverer).values()) < WRITE_OFF_DAY.isoformat()


@pytest.mark.parametrize("day", KILL_DAYS)
def test_jobs_cut_off_and_run_again_send_nothing_twice_and_change_no_line_twice(
        year, day) -> None:
    rerun = year.rerun[day]
    assert [(job, status) for job, status, _ in rerun["killed"]] == [(j, FAILED) for j in DAILY]
    assert all("killed after its work" in error for _, _, error in rerun["killed"])
    # the work of the cut-off runs was done: that day's news is in the book already
    assert rerun["after_kill"]["line_events"] != []
    for what in ("line_events", "notifications", "sent", "statuses", "actions", "cases"):
        assert rerun["after_retry"][what] == rerun["after_kill"][what], what
        assert rerun["after_hand"][what] == rerun["after_kill"][what], what
    assert rerun["run_one_again"] == [None] * (len(DAILY) - 1)  # succeeded: never claimed again
    sent = Counter((n, c) for n, c, _ in rerun["after_hand"]["sent"])
    assert max(sent.values()) == 1
    news = year.log[day]
    if day == date(2026, 5, 21):
        assert {k for k, _, _ in news["notifications"]} >= {
            f"reminder:{year.collapser['loan_id']}:2026-05-20:D+1"}
    else:
        assert [kind for _, kind, _, _ in news["line_events"]] == ["limit_changed"]
