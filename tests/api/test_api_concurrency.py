"""Two simultaneous payout requests for one contract pay out once, over HTTP and in the store."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from puhui.errors import PuhuiError
from puhui.services import loans
from puhui.services.access import SYSTEM
from puhui.store.platform_models import DisbursementRow


def _race(n: int, work) -> list:
    barrier, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except PuhuiError as exc:
            results[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _payouts(api, contract_id: str) -> int:
    with api.platform.read() as session:
        return session.execute(select(func.count()).select_from(DisbursementRow)
                               .where(DisbursementRow.contract_id == contract_id)).scalar_one()


def test_simultaneous_http_disbursements_pay_once(api) -> None:
    contract_id = api.signed()["contract"]["contract_id"]
    results = _race(4, lambda i: api.post(f"/v1/contracts/{contract_id}/disbursements",
                                          {"mode": "bound_account"}, key=f"race-{i}"))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and all(c == 409 for c in codes if c != 201), \
        [r.text for r in results]
    assert _payouts(api, contract_id) == 1
    assert len(api.gateway.paid_out(f"PAYOUT-{contract_id}")) == 1
    assert api.get("/v1/ledger/trial-balance", who="admin").json()["total"] == 0


def test_simultaneous_service_disbursements_pay_once(api) -> None:
    """The same race without the HTTP layer: each request in its own transaction and thread."""
    contract_id = api.signed()["contract"]["contract_id"]

    def pay(i: int):
        with api.platform.unit() as session:
            return loans.disburse(api.platform, session, SYSTEM, contract_id)
    results = _race(3, pay)
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert _payouts(api, contract_id) == 1
    assert api.platform.book.verify_ledger() > 0


def _same_answers(results) -> None:
    first = results[0]
    assert all((r.status_code, r.content) == (first.status_code, first.content) for r in results), \
        sorted({(r.status_code, r.text[:120]) for r in results})
    assert sum(r.headers.get("idempotent-replayed") != "true" for r in results) == 1


def test_twenty_requests_with_one_key_all_get_the_first_answer(api) -> None:
    """A request arriving while another with its Idempotency-Key is in flight waits for it and
    replays its answer: no 409 already-done, one payout."""
    contract_id = api.signed()["contract"]["contract_id"]
    results = _race(20, lambda i: api.post(f"/v1/contracts/{contract_id}/disbursements",
                                           {"mode": "bound_account"}, key="one-payout"))
    assert results[0].status_code == 201, results[0].text
    _same_answers(results)
    assert _payouts(api, contract_id) == 1
    assert len(api.gateway.paid_out(f"PAYOUT-{contract_id}")) == 1


def test_twenty_repayments_with_one_key_take_the_money_once(api) -> None:
    loan_id = api.disbursed()["disbursement"]["loan_id"]
    results = _race(20, lambda i: api.post(f"/v1/loans/{loan_id}/repayments",
                                           {"amount": 100_000}, key="one-repayment"))
    assert results[0].status_code == 201, results[0].text
    _same_answers(results)
    loan = api.get(f"/v1/loans/{loan_id}").json()
    assert loan["balances"].get("2241") == -100_000  # one overpayment held, not twenty
    assert api.get("/v1/ledger/trial-balance", who="admin").json()["total"] == 0


def test_twenty_applications_with_one_key_make_one(api) -> None:
    applicant_id, _, _ = api.onboard()
    body = {"applicant_id": applicant_id, "product_code": "SME-EI-12", "amount": 5_000_000,
            "submit": True}
    results = _race(20, lambda i: api.post("/v1/applications", body, key="one-application"))
    assert results[0].status_code == 201, results[0].text
    _same_answers(results)
    listed = api.get("/v1/applications").json()["items"]
    assert [a["application_id"] for a in listed] == [results[0].json()["application_id"]]
