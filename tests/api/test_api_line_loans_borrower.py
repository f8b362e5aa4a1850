"""A loan drawn under a credit line belongs to the line's borrower for the daily jobs: it is
reminded before and after its due date, its collections case names the borrower (so the case's
reminders go out), and the early warning's actions reach the borrower's line.  (Each job used
to find a loan's borrower only through the application that paid it out, which a draw has not.)
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from puhui.services.clock import at_business_date
from puhui.services.scheduler import Schedule, Scheduler
from puhui.store.job_runs import SUCCEEDED

from api_samples import START

FIRST_DUE = date(2026, 3, 20)  # a SME-EI-12 draw on START falls due on the 20th


def _rows(api, sql: str, **params) -> list[tuple]:
    with api.platform.read() as session:
        return [tuple(r) for r in session.execute(text(sql), params)]


def test_a_drawn_loan_is_reminded_collected_and_watched_as_the_line_s_borrower(api) -> None:
    signed = api.signed(product="SME-EI-12", amount=10_000_000)
    applicant_id = signed["applicant_id"]
    r = api.post(f"/v1/contracts/{signed['contract']['contract_id']}/line", {})
    assert r.status_code == 201, r.text
    line_id = r.json()["line_id"]
    r = api.post(f"/v1/lines/{line_id}/draws", {"amount": 3_000_000})
    assert r.status_code == 201, r.text
    loan_id = r.json()["loan_id"]
    api.gateway.decline = lambda account, amount: "insufficient funds"
    scheduler = Scheduler(api.platform, Schedule.from_env({"PUHUI_SCHEDULE_LINE_REFRESH": "off"}))
    day = START + timedelta(days=1)
    while day <= FIRST_DUE + timedelta(days=2):
        api.clock.set(at_business_date(day, 10))
        assert {run.status for run in scheduler.tick()} == {SUCCEEDED}, day
        day += timedelta(days=1)

    reminders = _rows(api, "SELECT DISTINCT key, applicant_id FROM notifications "
                           "WHERE kind LIKE 'reminder.%' ORDER BY key")
    assert reminders == sorted((f"reminder:{loan_id}:{FIRST_DUE}:{step}", applicant_id)
                               for step in ("D-3", "D-1", "D0", "D+1"))
    [(case_id, case_applicant, opened_on)] = _rows(
        api, "SELECT case_id, applicant_id, opened_on FROM collection_cases WHERE loan_id = "
             ":loan", loan=loan_id)
    assert case_applicant == applicant_id
    assert str(opened_on) == str(FIRST_DUE + timedelta(days=1))
    assert _rows(api, "SELECT count(*) FROM notifications WHERE key LIKE :key",
                 key=f"collections-reminder:{case_id}:%")[0][0] >= 1
    # watch on the first day past due, alert on the second: the line is frozen and cut
    statuses = _rows(api, "SELECT as_of, status FROM loan_watch_statuses WHERE loan_id = :loan "
                          "AND status != previous ORDER BY as_of", loan=loan_id)
    assert [(str(d), s) for d, s in statuses] == [(str(FIRST_DUE + timedelta(days=1)), "watch"),
                                                  (str(FIRST_DUE + timedelta(days=2)), "alert")]
    applied = _rows(api, "SELECT kind, status FROM warning_actions WHERE loan_id = :loan AND "
                         "kind IN ('freeze_line', 'reduce_limit') ORDER BY id", loan=loan_id)
    assert applied == [("freeze_line", "applied"), ("reduce_limit", "applied")]
    line = api.get(f"/v1/lines/{line_id}").json()
    assert line["status"] == "frozen" and line["limit"] == 5_000_000
