"""Collections through the API: a loan paid out through origination goes overdue, the review
opens its case, collectors work it within the contact rules, and a restructuring becomes the
loan's new schedule; refusals are 4xx problems that change nothing but the audit trail."""

from __future__ import annotations

from datetime import date, timedelta

from puhui.services.clock import at_business_date

from api_samples import START

FIRST_DUE = date(2026, 3, 20)  # SME-EI-12 paid out on START falls due on the 20th


def _overdue_case(api, days: int = 1) -> dict:
    loan = api.disbursed()["disbursement"]["loan_id"]
    day = FIRST_DUE + timedelta(days=days)
    api.clock.set(at_business_date(day, 7))
    r = api.post("/v1/collections/run", {"business_date": day.isoformat()}, "admin")
    assert r.status_code == 200, r.text
    r = api.get(f"/v1/collections/loans/{loan}/cases", "officer")
    assert r.status_code == 200, r.text
    [case] = r.json()["items"]
    return case


def _at(api, day: date, hh: int, mm: int = 0) -> None:
    from datetime import datetime, time, timezone

    from puhui.services.clock import BUSINESS_ZONE

    api.clock.set(datetime.combine(day, time(hh, mm), tzinfo=BUSINESS_ZONE)
                  .astimezone(timezone.utc))


def _call(api, case_id: str, key: str | None = "auto", **body):
    return api.post(f"/v1/collections/cases/{case_id}/attempts",
                    {"channel": "phone_call", "party": "borrower", "outcome": "no_answer",
                     **body}, "officer", key=key)


def test_an_overdue_loan_opens_one_case_in_the_queue_for_staff_only(api) -> None:
    assert START < FIRST_DUE
    case = _overdue_case(api)
    assert case["days_past_due"] == 1 and case["stage"]["name"] == "reminder"
    assert case["applicant_id"] and case["opened_on"] == "2026-03-21"
    again = api.post("/v1/collections/run", {"business_date": "2026-03-21"}, "admin")
    assert again.status_code == 200 and again.json()["opened"] == 0
    r = api.get("/v1/collections/queue", "officer")
    assert [c["case_id"] for c in r.json()["items"]] == [case["case_id"]]
    for who in ("partner", "readonly"):
        assert api.get("/v1/collections/queue", who).status_code == 403
        assert api.post("/v1/collections/run", {}, who).status_code == 403
    assert api.post("/v1/collections/run", {}, "officer").status_code == 403  # admins run it
    assert api.get("/v1/collections/cases/CC0000", "officer").status_code == 404
    r = api.post(f"/v1/collections/cases/{case['case_id']}/assignment", {"collector": "me"},
                 "officer")
    assert r.status_code == 200 and r.json()["collector"]
    mine = api.get("/v1/collections/queue", "officer", params={"collector": "me"}).json()
    assert [c["case_id"] for c in mine["items"]] == [case["case_id"]]
    assert api.get("/v1/collections/queue", "officer",
                   params={"unassigned": "true"}).json()["items"] == []


def test_contact_rules_refuse_with_409_and_only_the_refusal_is_recorded(api) -> None:
    case = _overdue_case(api, days=2)
    case_id, day = case["case_id"], FIRST_DUE + timedelta(days=2)
    _at(api, day, 7, 59)
    r = _call(api, case_id)
    assert r.status_code == 409 and r.json()["type"] == "/problems/contact-refused", r.text
    assert "outside the contact hours 08:00-21:00" in r.json()["detail"]
    _at(api, day, 8, 0)
    r = _call(api, case_id, key=None)
    assert r.status_code == 201, r.text
    first = r.json()
    r = _call(api, case_id, party="relative")
    assert r.status_code == 409 and "only the borrower" in r.json()["detail"]
    _at(api, day, 20, 59)
    assert _call(api, case_id).status_code == 201
    assert _call(api, case_id, outcome="promise_to_pay", promise_amount=1_000_00,
                 promise_due=(day + timedelta(days=3)).isoformat()).status_code == 201
    r = _call(api, case_id)  # a fourth contact today
    assert r.status_code == 409 and "at most 3 contacts a day" in r.json()["detail"]
    _at(api, day, 21, 0)
    assert _call(api, case_id).status_code == 409
    detail = api.get(f"/v1/collections/cases/{case_id}", "officer").json()
    assert [a["attempt_id"] for a in detail["attempts"]][0] == first["attempt_id"]
    assert len(detail["attempts"]) == 3 and len(detail["promises"]) == 1
    trail = api.get(f"/v1/collections/cases/{case_id}/audit", "officer").json()["items"]
    refused = [(e["action"], e["detail"]["rule"]) for e in trail if e["outcome"] == "refused"]
    assert refused == [("contact_attempt", "contact_hours"), ("contact_attempt", "third_party"),
                       ("contact_attempt", "daily_cap"), ("contact_attempt", "contact_hours")]
    assert {e["actor"] for e in trail if e["action"] != "case_opened"} == \
        {first["collector"]}


def test_an_attempt_sent_again_with_its_key_is_replayed_not_counted(api) -> None:
    case = _overdue_case(api, days=2)
    _at(api, FIRST_DUE + timedelta(days=2), 10)
    first = _call(api, case["case_id"], key="call-1")
    again = _call(api, case["case_id"], key="call-1")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert len(api.get(f"/v1/collections/cases/{case['case_id']}",
                       "officer").json()["attempts"]) == 1


def test_bad_collections_input_is_422(api) -> None:
    case = _overdue_case(api, days=2)
    case_id = case["case_id"]
    _at(api, FIRST_DUE + timedelta(days=2), 10)
    for body in ({"amount": 100, "due_on": "2026-03-01"}, {"amount": 0, "due_on": "2026-03-25"},
                 {"amount": 100, "due_on": "2026-06-01"}):
        r = api.post(f"/v1/collections/cases/{case_id}/promises", body, "officer")
        assert r.status_code == 422, (body, r.text)
    r = _call(api, case_id, outcome="promise_to_pay")
    assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-collections-input"
    r = _call(api, case_id, channel="carrier_pigeon")
    assert r.status_code == 422 and r.json()["type"] == "/problems/validation-error"
    assert api.get(f"/v1/collections/cases/{case_id}", "officer").json()["attempts"] == []


def test_a_restructuring_above_the_cap_is_refused_and_an_accepted_one_reschedules(api) -> None:
    case = _overdue_case(api, days=35)
    case_id, loan_id = case["case_id"], case["loan_id"]
    assert case["stage"]["name"] == "call"
    day = FIRST_DUE + timedelta(days=35)
    _at(api, day, 10)
    before = api.get(f"/v1/loans/{loan_id}", "admin").json()
    path = f"/v1/collections/cases/{case_id}/restructuring-offers"
    r = api.post(path, {"kind": "reschedule", "periods": 12, "annual_rate": "0.30",
                        "affordable_instalment": 50_000_00}, "officer")
    assert r.status_code == 422 and r.json()["type"] == "/problems/rate-cap-exceeded", r.text
    r = api.post(path, {"kind": "extend", "extra_periods": 1, "affordable_instalment": 1},
                 "officer")
    assert r.status_code == 422 and r.json()["type"] == "/problems/restructuring-refused"
    assert api.get(f"/v1/loans/{loan_id}", "admin").json() == before
    r = api.post(path, {"kind": "extend", "extra_periods": 6,
                        "affordable_instalment": 9_000_00}, "officer")
    assert r.status_code == 201, r.text
    offer = r.json()
    assert offer["status"] == "proposed" and offer["terms"]["new_instalment"] <= 9_000_00
    assert api.get(f"/v1/loans/{loan_id}", "admin").json() == before  # nothing until accepted
    r = api.post(f"/v1/collections/restructuring-offers/{offer['offer_id']}/accept", None,
                 "officer")
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    request = r.json()["operation"]  # a staff servicing request: a second person approves it
    assert request["status"] == "pending" and request["applied"] is False
    assert api.get(f"/v1/loans/{loan_id}", "admin").json() == before
    r = api.post(f"/v1/servicing-requests/{request['request_id']}/approve", None, "officer")
    assert r.status_code == 403, r.text  # not the maker
    r = api.post(f"/v1/servicing-requests/{request['request_id']}/approve", None, "admin")
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    after = api.get(f"/v1/loans/{loan_id}", "admin").json()
    assert after["days_past_due"] == 0 and after["amount_due"] == 0
    new = [i for i in after["schedule"] if i["due_date"] > day.isoformat()]
    assert len(new) == offer["terms"]["periods"]
    assert max(i["principal"] + i["interest"] + i["fee"] for i in new) <= 9_000_00
    assert api.get("/v1/ledger/verify", "admin").status_code == 200
    r = api.post(f"/v1/collections/restructuring-offers/{offer['offer_id']}/decline", None,
                 "officer")
    assert r.status_code == 409 and r.json()["type"] == "/problems/offer-not-open"
    assert api.post("/v1/collections/run", {}, "admin").status_code == 200  # the day's review
    closed = api.get(f"/v1/collections/cases/{case_id}", "officer").json()
    assert closed["status"] == "closed" and closed["close_reason"] == "cured"
    assert _call(api, case_id).status_code == 409  # nothing more on a closed case


def test_the_frequency_cap_counts_every_loan_of_the_borrower(api) -> None:
    first = api.disbursed()
    applicant_id = first["applicant_id"]
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 5_000_000, "submit": True})
    assert r.status_code == 201 and r.json()["status"] == "offered", r.text
    application = r.json()
    r = api.post(f"/v1/applications/{application['application_id']}/accept",
                 {"account_id": first["account_id"]})
    contract = r.json()
    api.post(f"/v1/contracts/{contract['contract_id']}/sign",
             {"content_hash": contract["content_hash"]})
    r = api.post(f"/v1/contracts/{contract['contract_id']}/disbursements",
                 {"mode": "bound_account"})
    assert r.status_code == 201, r.text
    day = FIRST_DUE + timedelta(days=2)
    api.clock.set(at_business_date(day, 7))
    assert api.post("/v1/collections/run", {}, "admin").json()["opened"] == 2
    cases = api.get("/v1/collections/queue", "officer").json()["items"]
    assert {c["applicant_id"] for c in cases} == {applicant_id}
    _at(api, day, 10)
    assert _call(api, cases[0]["case_id"]).status_code == 201
    assert _call(api, cases[0]["case_id"]).status_code == 201
    assert _call(api, cases[1]["case_id"]).status_code == 201
    r = _call(api, cases[1]["case_id"])  # the fourth contact of this borrower today
    assert r.status_code == 409 and "at most 3 contacts a day" in r.json()["detail"]


def test_answers_match_their_declared_models(api) -> None:
    """The collections answers validate against the response models the document declares."""
    from puhui.api import responses as R

    case = _overdue_case(api, days=3)
    case_id = case["case_id"]
    day = FIRST_DUE + timedelta(days=3)
    _at(api, day, 10)
    R.CollectionCase.model_validate(case)
    attempt = _call(api, case_id, outcome="promise_to_pay", promise_amount=500_00,
                    promise_due=(day + timedelta(days=2)).isoformat(),
                    note="call me on 139-0000-1234")
    assert attempt.status_code == 201
    R.ContactAttempt.model_validate(attempt.json())
    assert attempt.json()["note"] == "call me on 139****1234"  # numbers in notes are masked
    offer = api.post(f"/v1/collections/cases/{case_id}/restructuring-offers",
                     {"kind": "reduce_instalment", "affordable_instalment": 4_000_00}, "officer")
    assert offer.status_code == 201, offer.text
    R.RestructuringOffer.model_validate(offer.json())
    R.CollectionCaseDetail.model_validate(
        api.get(f"/v1/collections/cases/{case_id}", "officer").json())
    R.CollectionAuditTrail.model_validate(
        api.get(f"/v1/collections/cases/{case_id}/audit", "officer").json())
    R.CollectionCaseList.model_validate(api.get("/v1/collections/queue", "officer").json())
    R.WriteOffCandidateList.model_validate(
        api.get("/v1/collections/write-off-recommendations", "officer").json())
    api.clock.set(at_business_date(day + timedelta(days=1), 7))
    run = api.post("/v1/collections/run", {}, "admin")
    R.CollectionsRun.model_validate(run.json())
    runs = api.get("/v1/operations/job-runs", "admin", params={"job": "collections"})
    assert runs.status_code == 200 and runs.json()["items"] == []
