"""Credit lines through the API: grant on a signed contract, draw, repay, change, who sees what."""

from __future__ import annotations

from datetime import timedelta

from puhui.services.clock import at_business_date

from api_samples import START


def _line(api, product: str = "SME-RV-180", amount: int = 10_000_000) -> dict:
    signed = api.signed(product=product, amount=amount)
    r = api.post(f"/v1/contracts/{signed['contract']['contract_id']}/line", {})
    assert r.status_code == 201, r.text
    return r.json()


def _commitments(api) -> int:
    from puhui.services.lines import commitments

    with api.platform.read() as session:
        memo = commitments(session)
    assert memo["9101"] == -memo["9102"]
    return memo["9101"]


def test_a_revolving_application_grants_a_line_that_draws_and_repays(api) -> None:
    line = _line(api)
    assert line["status"] == "active" and line["drawn"] == 0
    assert line["available"] == line["limit"] > 0
    assert line["expires_on"] == (START + timedelta(days=180)).isoformat()
    assert _commitments(api) == line["limit"]
    r = api.post(f"/v1/lines/{line['line_id']}/draws", {"amount": 2_000_000}, key="d1")
    assert r.status_code == 201, r.text
    drawn = r.json()
    assert drawn["line"]["available"] == line["limit"] - 2_000_000
    assert drawn["schedule_is_representative"] and float(drawn["apr"]) > 0
    assert _commitments(api) == line["limit"] - 2_000_000
    # the same key again: the same loan, nothing more drawn
    again = api.post(f"/v1/lines/{line['line_id']}/draws", {"amount": 2_000_000}, key="d1")
    assert again.status_code == 201 and again.json()["loan_id"] == drawn["loan_id"]
    shown = api.get(f"/v1/lines/{line['line_id']}").json()
    assert shown["drawn"] == 2_000_000 and len(shown["loans"]) == 1
    # ten days later the borrower repays everything owed: the principal is available again
    api.clock.set(at_business_date(START + timedelta(days=10)))
    loan = api.get(f"/v1/loans/{drawn['loan_id']}")
    assert loan.status_code == 200, loan.text
    r = api.post(f"/v1/loans/{drawn['loan_id']}/repayments", {"amount": 10**9})
    assert r.status_code == 422  # more than owed: refused, nothing restored
    assert api.get(f"/v1/lines/{line['line_id']}").json()["drawn"] == 2_000_000
    r = api.post(f"/v1/loans/{drawn['loan_id']}/repayments", {"amount": 1_000_000})
    assert r.status_code == 201, r.text
    principal_left = r.json()["balances"]["1301"]
    assert 1_000_000 < principal_left < 1_010_000  # ten days' interest was paid first
    shown = api.get(f"/v1/lines/{line['line_id']}").json()
    assert shown["drawn"] == principal_left == shown["loans"][0]["principal_unrepaid"]
    assert shown["available"] == line["limit"] - principal_left
    assert [e["kind"] for e in shown["events"]] == ["granted", "draw", "principal_restored"]
    # the loan shows what clears it the next day; paying that gives the whole limit back
    api.clock.set(at_business_date(START + timedelta(days=11)))
    loan = api.get(f"/v1/loans/{drawn['loan_id']}").json()
    assert loan["schedule"] == [] and loan["payoff_amount"] > principal_left
    r = api.post(f"/v1/loans/{drawn['loan_id']}/repayments", {"amount": loan["payoff_amount"]})
    assert r.status_code == 201, r.text
    assert sum(r.json()["balances"].values()) == 0
    shown = api.get(f"/v1/lines/{line['line_id']}").json()
    assert shown["drawn"] == 0 and shown["available"] == shown["limit"]
    assert _commitments(api) == shown["available"]


def test_a_draw_above_available_or_on_a_frozen_line_changes_nothing(api) -> None:
    line = _line(api)
    url = f"/v1/lines/{line['line_id']}"
    r = api.post(f"{url}/draws", {"amount": line["limit"] + 1})
    assert r.status_code == 409 and r.json()["type"] == "/problems/draw-exceeds-available"
    r = api.post(f"{url}/draws", {"amount": 1})
    assert r.status_code == 422 and r.json()["type"] == "/problems/draw-below-minimum"
    r = api.post(f"{url}/changes", {"reason": "sales collapsed", "freeze": True}, who="officer")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "frozen" and r.json()["available"] == 0
    assert _commitments(api) == 0
    r = api.post(f"{url}/draws", {"amount": 1_000_000})
    assert r.status_code == 409 and r.json()["type"] == "/problems/line-not-drawable"
    shown = api.get(url).json()
    assert shown["drawn"] == 0 and shown["loans"] == []
    assert [e["kind"] for e in shown["events"]] == ["granted", "frozen"]


def test_staff_change_the_line_and_a_replay_changes_nothing(api) -> None:
    line = _line(api)
    url = f"/v1/lines/{line['line_id']}/changes"
    body = {"reason": "electricity use up 40%", "limit": line["limit"] * 12 // 10,
            "annual_rate": "0.141"}
    r = api.post(url, body, who="partner", key="c1")
    assert r.status_code == 403
    r = api.post(url, body, who="officer", key="c1")
    assert r.status_code == 200, r.text
    changed = r.json()
    assert [e["kind"] for e in changed["changes"]] == ["limit_changed", "price_changed"]
    assert changed["limit"] == body["limit"] and changed["annual_rate"] == "0.141"
    assert _commitments(api) == body["limit"]
    r = api.post(url, body, who="officer", key="c1")
    assert r.status_code == 200 and r.headers.get("idempotent-replayed") == "true"
    r = api.post(url, {"reason": "long key", "freeze": True}, who="officer", key="k" * 200)
    assert r.status_code == 200 and r.json()["status"] == "frozen", r.text
    r = api.post(url, {"reason": "long key", "freeze": False}, who="officer", key="u" * 200)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert len(api.get(f"/v1/lines/{line['line_id']}").json()["events"]) == 5
    r = api.post(url, {"reason": "too high", "annual_rate": "0.9"}, who="officer", key="c2")
    assert r.status_code == 422 and r.json()["type"] == "/problems/rate-cap-exceeded"
    r = api.post(url, {"reason": "x", "limit": 10**10}, who="officer", key="c3")
    assert r.status_code == 422
    r = api.post(url, {"reason": "closing", "close": True}, who="admin", key="c4")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = api.post(url, {"reason": "reopen", "freeze": False}, who="admin", key="c5")
    assert r.status_code == 409 and r.json()["type"] == "/problems/illegal-line-transition"
    assert _commitments(api) == 0


def test_partners_see_only_their_own_lines(api) -> None:
    line = _line(api)
    r = api.post(f"/v1/lines/{line['line_id']}/draws", {"amount": 1_000_000})
    assert r.status_code == 201, r.text
    loan_id = r.json()["loan_id"]
    assert loan_id in [x["loan_id"] for x in api.get("/v1/loans").json()["items"]]
    assert api.get("/v1/loans", who="other").json()["items"] == []
    assert api.get(f"/v1/loans/{loan_id}", who="other").status_code == 404
    assert api.get(f"/v1/lines/{line['line_id']}", who="other").status_code == 404
    assert api.get("/v1/lines", who="other").json()["items"] == []
    assert [x["line_id"] for x in api.get("/v1/lines").json()["items"]] == [line["line_id"]]
    r = api.post(f"/v1/lines/{line['line_id']}/draws", {"amount": 1_000_000}, who="other")
    assert r.status_code == 404


def test_an_instalment_contract_grants_a_line_instead_of_a_loan(api) -> None:
    signed = api.signed(product="SME-EI-12", amount=10_000_000)
    contract_id = signed["contract"]["contract_id"]
    r = api.post(f"/v1/contracts/{contract_id}/line", {})
    assert r.status_code == 201, r.text
    line = r.json()
    r = api.post(f"/v1/contracts/{contract_id}/disbursements", {"mode": "bound_account"})
    assert r.status_code == 409, r.text
    r = api.post(f"/v1/lines/{line['line_id']}/draws", {"amount": 3_000_000})
    assert r.status_code == 201, r.text
    drawn = r.json()
    assert len(drawn["schedule"]) == 12 and not drawn["schedule_is_representative"]
    assert sum(i["principal"] for i in drawn["schedule"]) == 3_000_000
    assert drawn["net_disbursed"] == 3_000_000 - drawn["upfront_fee"]
    loan = api.get(f"/v1/loans/{drawn['loan_id']}").json()
    assert loan["balances"]["1301"] == 3_000_000


def test_a_revolving_contract_is_not_paid_out(api) -> None:
    signed = api.signed(product="SME-RV-180", amount=10_000_000)
    r = api.post(f"/v1/contracts/{signed['contract']['contract_id']}/disbursements",
                 {"mode": "bound_account"})
    assert r.status_code == 409 and "revolving" in r.json()["detail"]
