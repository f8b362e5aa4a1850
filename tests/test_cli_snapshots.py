"""`puhui snapshots`: every loan's snapshot proved against its history, and rebuilt from it."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from puhui.book import LoanBook
from puhui.cli import app
from puhui.loans.events import Disbursement, Repayment
from puhui.loans.snapshot import to_state
from puhui.store.close_models import LoanPositionRow, LoanSnapshotRow
from puhui.demo import DEMO_PRODUCTS
from datetime import date

START = date(2026, 2, 2)


def _snapshots(engine: Engine, *args: str):
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["snapshots", "--db", url, *args])
    result.text = " ".join(result.output.split())  # as read, whatever the terminal's width
    return result


def test_snapshots_agree_with_history_and_a_tampered_one_is_found_and_rebuilt(
        engine: Engine) -> None:
    book = LoanBook(engine)
    for n, product in enumerate(DEMO_PRODUCTS[:4]):
        book.open(f"S{n}", product)
        book.apply(f"S{n}", Disbursement("d", START, 20_000_00))
    book.open("PENDING", DEMO_PRODUCTS[0])  # nothing happened to it: no snapshot needed
    for day in range(40):
        book.end_of_day(START + timedelta(days=day))
        if day == 20:
            book.apply("S1", Repayment("r", START + timedelta(days=21), 3_000_00))
    ok = _snapshots(engine)
    assert ok.exit_code == 0 and "5 loans replayed: 0 without a snapshot, 0 disagreeing" \
        in ok.text, ok.output
    before = to_state(LoanBook(engine).load("S2"))
    # a snapshot edited behind the book's back (credit out of nothing) is found
    with engine.begin() as conn:
        state = json.loads(conn.execute(select(LoanSnapshotRow.state)
                                        .where(LoanSnapshotRow.loan_id == "S2")).scalar_one())
        state["credit"] = 1
        conn.execute(update(LoanSnapshotRow).where(LoanSnapshotRow.loan_id == "S2")
                     .values(state=json.dumps(state)))
        conn.execute(update(LoanPositionRow).where(LoanPositionRow.loan_id == "S3")
                     .values(overdue_principal=7))
    bad = _snapshots(engine)
    assert bad.exit_code == 1 and "2 disagreeing" in bad.text, bad.output
    assert "S2: snapshot disagrees" in bad.text and "S3: snapshot disagrees" in bad.text
    fixed = _snapshots(engine, "--rebuild")
    assert fixed.exit_code == 0 and "2 rebuilt" in fixed.text, fixed.output
    assert to_state(LoanBook(engine).load("S2")) == before
    again = _snapshots(engine)
    assert again.exit_code == 0 and "0 disagreeing" in again.text
