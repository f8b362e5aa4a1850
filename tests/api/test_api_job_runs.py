"""GET /v1/operations/job-runs: the scheduled jobs' runs as the document declares them, to
operators only."""

from __future__ import annotations

from datetime import date, time

import jsonschema_rs

from puhui.services.scheduler import AUTO_DEBIT, CLOSE, JobSpec, Schedule, Scheduler


def test_job_runs_are_listed_newest_first_for_operators(api) -> None:
    def fails(_p, _day: date) -> dict:
        raise RuntimeError("bank link down")

    schedule = Schedule((JobSpec(CLOSE, time(0, 0)), JobSpec(AUTO_DEBIT, time(0, 1))))
    Scheduler(api.platform, schedule, "host:1:abc",
              {CLOSE: lambda _p, day: {"business_date": day.isoformat(), "loans": 0},
               AUTO_DEBIT: fails}).tick()
    r = api.get("/v1/operations/job-runs", who="admin")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["job"], i["status"]) for i in items] == [(AUTO_DEBIT, "failed"),
                                                        (CLOSE, "succeeded")]
    assert "RuntimeError: bank link down" in items[0]["error"]
    assert items[1]["summary"]["loans"] == 0 and items[1]["runner"] == "host:1:abc"
    spec = api.client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/operations/job-runs"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    jsonschema_rs.validator_for({**schema, "components": spec["components"]}).validate(r.json())
    only = api.get("/v1/operations/job-runs", who="admin", params={"job": CLOSE, "limit": 1})
    assert [i["job"] for i in only.json()["items"]] == [CLOSE]
    reminders = api.get("/v1/operations/job-runs", who="admin", params={"job": "reminders"})
    assert reminders.status_code == 200 and reminders.json()["items"] == []
    assert api.get("/v1/operations/job-runs", who="admin",
                   params={"job": "payroll"}).status_code == 422
    assert api.get("/v1/operations/job-runs").status_code == 403  # a partner key
