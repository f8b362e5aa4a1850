"""`puhui servicing`: a maker asks with their key, a checker approves with theirs; the maker
approving their own and bad parameters exit 2 with why."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import typer
from typer.testing import CliRunner

from puhui.cli import app
from puhui.cli.servicing import parse_params
from puhui.loans.events import Disbursement
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.state import LoanStatus
from puhui.services import access
from puhui.services.clock import SystemClock, business_date
from puhui.services.platform import Platform

runner = CliRunner()
PRODUCT = LoanProduct("EI6", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=6)


def test_parameters_keep_rates_as_text_and_amounts_as_integers() -> None:
    assert parse_params(["amount=30000", "annual_rate=0.10", "capitalise_arrears=false",
                         "charge=penalty"]) == {"amount": 30000, "annual_rate": "0.10",
                                                "capitalise_arrears": False,
                                                "charge": "penalty"}
    with pytest.raises(typer.BadParameter):
        parse_params(["amount"])


def test_maker_and_checker_from_the_command_line(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'servicing.sqlite'}"
    platform = Platform.open(url)
    today = business_date(SystemClock())
    with platform.unit() as session:
        maker = access.issue_key(session, "maker", "credit_officer").token
        checker = access.issue_key(session, "checker", "credit_officer").token
        partner = access.issue_key(session, "pos", "partner", "P-1").token
        platform.book.open_in(session, "LN1", PRODUCT)
        platform.book.apply_in(session, [("LN1", Disbursement("d", today, 20_000_00))])
    platform.close()

    def run(*args: str, key: str = maker):
        return runner.invoke(app, ["servicing", *args, "--db", url, "--api-key", key],
                             terminal_width=200)

    r = run("request", "LN1", "freeze", "--reason", "dispute", "--key", "f1")
    assert r.exit_code == 0 and "applied" in r.output, r.output
    r = run("request", "LN1", "write_off", "--reason", "fraud", "--key", "w1", "--json")
    assert r.exit_code == 0, r.output
    request_id = json.loads(r.output)["request_id"]
    assert json.loads(r.output)["status"] == "pending"
    r = run("approve", request_id, "--key", "a1")  # the maker's own
    assert r.exit_code == 2 and "SelfApproval" in r.output, r.output
    r = run("approve", request_id, "--key", "a1", key=partner)
    assert r.exit_code == 2 and "AccessDenied" in r.output, r.output
    r = run("list", "--status", "pending", "--json", key=checker)
    assert [i["request_id"] for i in json.loads(r.output)] == [request_id]
    r = run("approve", request_id, "--key", "a1", key=checker)
    assert r.exit_code == 0 and "applied" in r.output, r.output
    r = run("approve", request_id, "--key", "a1", key=checker)  # sent again: same answer
    assert r.exit_code == 0 and "applied" in r.output, r.output
    r = run("request", "LN1", "recovery", "--reason", "agency", "-p", "amount=1000", "--key",
            "r1")
    assert r.exit_code == 0 and "applied" in r.output, r.output
    r = run("request", "LN1", "waive", "--reason", "x", "-p", "charge=fee", "-p",
            "amount=1.5", "--key", "bad")
    assert r.exit_code == 2 and "refused" in r.output, r.output
    r = run("list", key=checker)
    assert r.exit_code == 0 and "agency" in r.output, r.output
    r = run("list", "--json", key=checker)
    assert [(i["operation"], i["status"]) for i in json.loads(r.output)] == [
        ("freeze", "applied"), ("write_off", "applied"), ("recovery", "applied")]
    platform = Platform.open(url)
    try:
        loan = platform.book.load("LN1")
        assert loan.status is LoanStatus.WRITTEN_OFF and loan.recovered == 1000
    finally:
        platform.close()
