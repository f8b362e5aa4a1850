"""`puhui collections`: the review, the queue, a case, acts within the rules; refusals exit 2."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from typer.testing import CliRunner

from puhui.cli import app
from puhui.demo import DEMO_PRODUCTS
from puhui.loans.events import Disbursement
from puhui.services import servicing
from puhui.services.access import Perm, Principal, Role
from puhui.services.clock import SystemClock, business_date
from puhui.services.platform import Platform

runner = CliRunner()


CHECKER = Principal("K-checker", Role.CREDIT_OFFICER, frozenset({Perm.SERVICE, Perm.APPROVE}), None)


def test_collections_commands_work_a_case_and_refuse_what_the_rules_forbid(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'collections.sqlite'}"
    today = business_date(SystemClock())
    product = next(p for p in DEMO_PRODUCTS if p.code == "SME-EI-12")
    p = Platform.open(url)
    try:
        with p.unit() as session:  # a loan paid out 75 days ago: two instalments missed
            p.book.open_in(session, "LN-CLI", product)
            p.book.apply_in(session, [("LN-CLI", Disbursement("d", today - timedelta(days=75),
                                                              100_000_00))])
    finally:
        p.close()
    db = ["--db", url]

    def run(*args: str):
        result = runner.invoke(app, ["collections", *args, *db], terminal_width=200)
        result.said = " ".join(result.output.split())  # the console wraps long lines
        return result

    r = run("run")
    assert r.exit_code == 0 and "opened=1" in r.output, r.output
    assert "opened=0" in run("run").output  # the same day again opens nothing
    r = run("queue", "--json")
    assert r.exit_code == 0, r.output
    [case] = json.loads(r.output)
    assert case["loan_id"] == "LN-CLI" and case["days_past_due"] >= 30
    case_id = case["case_id"]
    r = run("case", case_id, "--assign", "me", "--by", "wang")
    assert r.exit_code == 0 and "cli:wang" in r.output, r.output
    r = run("attempt", case_id, "--outcome", "no_answer", "--party", "relative",
            "--key", "k1", "--by", "wang")
    assert r.exit_code == 2 and "only the borrower is contacted" in r.said
    r = run("promise", case_id, "--amount", "100000", "--due",
            (today + timedelta(days=2)).isoformat(), "--key", "p1", "--by", "wang")
    assert r.exit_code == 0 and "pending" in r.output, r.output
    r = run("promise", case_id, "--amount", "0", "--due", today.isoformat(), "--key", "p2")
    assert r.exit_code == 2 and "refused:" in r.said
    r = run("restructure", case_id, "--kind", "extend", "--extra-periods", "6",
            "--affordable", "900000", "--key", "r1", "--by", "wang")
    assert r.exit_code == 0 and "proposed" in r.output, r.output
    offer_id = re.search(r"offer (RO\w+)", r.output).group(1)
    r = run("restructure", case_id, "--kind", "reschedule", "--periods", "12", "--rate",
            "0.30", "--affordable", "900000", "--key", "r2")
    assert r.exit_code == 2 and "above the 24% comprehensive cost cap" in r.said
    r = run("restructure", offer_id, "--accept", "--by", "wang")
    assert r.exit_code == 0 and "accepted" in r.output, r.output
    view = json.loads(run("case", case_id, "--json").output)
    assert view["status"] == "open"  # the reschedule waits for a second officer (maker-checker)
    p = Platform.open(url)
    try:
        with p.unit() as session:
            [pending] = servicing.list_requests(p, session, CHECKER, status="pending")
            assert pending["maker"] == "cli:wang" and pending["operation"] == "reschedule"
            servicing.approve(p, session, CHECKER, pending["request_id"], "approve-cli")
    finally:
        p.close()
    assert run("run").exit_code == 0  # the day's review finds the loan cured
    r = run("case", case_id, "--audit", "--json")
    view = json.loads(r.output)
    assert view["status"] == "closed" and view["close_reason"] == "cured"
    acts = [(e["actor"], e["action"], e["outcome"]) for e in view["audit"]]
    assert ("cli:wang", "contact_attempt", "refused") in acts
    assert ("cli:wang", "restructuring_accepted", "done") in acts
    assert "no case is recommended" in run("writeoffs").output
    missing = runner.invoke(app, ["collections", "queue", "--db",
                                  f"sqlite:///{tmp_path / 'none.sqlite'}"])
    assert missing.exit_code == 2
