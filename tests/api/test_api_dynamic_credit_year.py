"""A year of three borrowers through the public API and the scheduler (issue 15's evidence).

One grows (its line rises when its electricity use jumps), one collapses (its sales fall by
half: the line freezes; it misses instalments: warnings, reminders, a collections case, a
broken promise, a restructuring approved by a second officer), one is written off and then
pays something back.  The scheduler ticks once a day at 10:00 in the business time zone on a
hand-moved clock and runs every daily job; after each day the ledger verifies and balances,
and what happened that day is compared with the day it had to happen, exactly once.  Then the
jobs of a day are cut off half-way and run again: no reminder is sent twice, no line changes
twice.
"""

from __future__ import annotations

import time as _time
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from puhui.api import create_app
from puhui.parties.synthetic import account_for, small_business

from puhui.risk.panel import add_months
from puhui.services import access
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
SALES_PUSH = date(2026, 5, 6)             # the collapser's April sales at 30% of the year's
COLLAPSER_DUE = date(2026, 5, 20)         # its first instalment missed (debits refused)
PROMISE_MADE = date(2026, 5, 25)
PROMISE_DUE = date(2026, 5, 28)
OFFER_DAY = date(2026, 6, 2)              # reschedule offered, accepted, approved
GROWER_SECOND_PUSH = date(2026, 9, 7)     # six instalments (20 Mar - 20 Aug) paid on time
WRITE_OFF_DAY = date(2026, 10, 5)
RECOVERY_DAY = date(2026, 11, 16)
KILL_DAY = date(2026, 7, 20)              # the day whose jobs are cut off and run again


class Killed(Exception):
    """The job's process dying after the work it did had committed."""


def killed_after(job):
    def run(platform, day):
        job(platform, day)
        raise Killed(f"{job.__name__} killed after its work")
    return run


@dataclass
class Year:
    api: Client
    book: Book
    grower: dict
    collapser: dict
    recoverer: dict
    log: dict[date, dict[str, list]]
    runs: dict[date, list]
    rerun: dict[str, Any]
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
        rerun: dict[str, Any] = {}
        day = START + timedelta(days=1)
        while day <= END:
            api.at(day, 10)
            if day == KILL_DAY:
                rerun.update(kill_and_rerun(api, book, schedule, day))
                ran = rerun["runs"]
            else:
                ran = scheduler.tick()
            runs[day] = [(r.job, r.status) for r in ran]
            assert all(r.status == SUCCEEDED for r in ran), [(r.job, r.error) for r in ran]
            scripted(day)
            api.ledger_balances()
            after = book.snapshot()
            for name, rows in after.items():
                new = [r for r in rows if r not in set(before[name])]
                if new:
                    log[day][name] = new
            before = after
            day += timedelta(days=1)
        yield Year(api, book, grower, collapser, recoverer, log, runs, rerun,
                   _time.monotonic() - started)
    finally:
        api.client.close()
        p.close()


def kill_and_rerun(api: Client, book: Book, schedule: Schedule, day: date) -> dict[str, Any]:
    """The day's jobs, each killed after doing its work (recorded failed), then retried by the
    scheduler a few minutes later, then each run again by hand: what the retries add."""
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
    again = Scheduler(api.platform, schedule).run_one("reminders", day)
    return {"killed": [(r.job, r.status) for r in first], "after_kill": after_kill,
            "after_retry": after_retry, "after_hand": after_hand, "runs": retried,
            "run_one_again": again}


def test_print(year) -> None:
    names = {year.grower["loan_id"]: "G", year.collapser["loan_id"]: "C",
             year.recoverer["loan_id"]: "R", year.grower["line_id"]: "GL",
             year.collapser["line_id"]: "CL"}
    for a, n in (("grower", "G"), ("collapser", "C"), ("recoverer", "R")):
        names[getattr(year, a)["applicant_id"]] = "A" + n
    def short(x):
        x = repr(x)
        for k, v in names.items():
            x = x.replace(k, v)
        return x
    for d in sorted(year.log):
        entry = dict(year.log[d])
        entry.pop("sent", None)
        entry["statuses"] = [s for s in entry.get("statuses", []) if s[2] != s[3]]
        entry = {k: v for k, v in entry.items() if v}
        if entry:
            print(d, short(entry))
    print(year.rerun["killed"], [(r.job, r.status) for r in year.rerun["runs"]], year.rerun["run_one_again"])
    print("elapsed", year.elapsed)
    assert False
