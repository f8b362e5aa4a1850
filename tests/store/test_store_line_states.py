"""The batch re-evaluation's narrow reads and bulk writes of line decisions, on SQLite and
PostgreSQL: `line_states` answers what `line_state` gives of each line read whole, and
`add_decisions` (multi-row statements) stores exactly what an executemany of the rows did."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from puhui.services.lines import lines_of_applicants
from puhui.services.reevaluation import line_state
from puhui.store import line_decision_repo as repo
from puhui.store import line_repo

NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def _line(line_id: str, applicant_id: str, **over) -> dict:
    row = {"line_id": line_id, "applicant_id": applicant_id, "partner_id": None,
           "application_id": f"APP{line_id}", "contract_id": f"CT{line_id}",
           "account_id": f"AC{line_id}", "product_code": "SME-RV-180", "currency": "CNY",
           "credit_limit": 1_000_000, "drawn": 0, "annual_rate": "0.12",
           "opened_on": date(2026, 1, 5), "expires_on": date(2027, 1, 5), "status": "active",
           "changed_on": None, "version": 1, "created_at": NOW, "updated_at": NOW}
    row.update(over)
    return row


def test_line_states_are_the_states_of_the_lines_read_whole(engine) -> None:
    with Session(engine) as s, s.begin():
        line_repo.insert_line(s, _line("L1", "A1"))
        line_repo.insert_line(s, _line("L2", "A1", status="frozen", drawn=123_456,
                                       changed_on=date(2026, 2, 28), annual_rate="0.1080"))
        line_repo.insert_line(s, _line("L3", "A2", credit_limit=0, status="closed",
                                       changed_on=date(2025, 12, 31), annual_rate="0.24"))
        line_repo.insert_line(s, _line("L4", "A3"))
    with Session(engine) as s, s.begin():
        asked = ["A1", "A2", "A9"]
        whole = {x.line_id: line_state(x) for x in lines_of_applicants(s, asked)}
        states = repo.line_states(s, asked)
        assert states == whole and sorted(states) == ["L1", "L2", "L3"]
        # the rate as the credit line holds it: "0.1080" is 0.108
        assert states["L2"] == ("1000000", "123456", "0.108", "frozen", "2026-02-28")
        assert states["L1"][4] == "None"
        assert repo.line_states(s, []) == {}
        assert repo.line_states(s.connection(), ["A3"]) == {"L4": line_state(
            lines_of_applicants(s, ["A3"])[0])}


def _decision(k: int, **over) -> dict:
    row = {"decision_id": f"LD{k:04d}", "line_id": f"L{k % 7}", "applicant_id": f"A{k % 7}",
           "decided_on": date(2026, 3, 2), "recorded_at": NOW, "trigger": "feed",
           "policy_version": "lines-2026.12", "policy_sha256": "a" * 64,
           "changes": k % 3 == 0, "limit_after": 2_000_000 + k if k % 3 == 0 else None,
           "rate_after": "0.11" if k % 6 == 0 else None,
           "freeze": (k % 2 == 0) if k % 3 == 0 else None, "engaged": "{}",
           "input_sha256": f"{k:064x}", "record": '{"x":"\u4e2d' + str(k) + '"}',
           "record_sha256": f"{k + 1:064x}"}
    row.update(over)
    return row


def test_decisions_added_in_bulk_are_stored_as_an_executemany_stored_them(engine) -> None:
    rows = [_decision(k) for k in range(1, 1200)]
    rows[5] = _decision(6, recorded_at=datetime(2026, 3, 2, 9, 31, tzinfo=UTC),
                        trigger="push:utility")
    stored = {}
    for way in ("executemany", "bulk"):
        with Session(engine) as s, s.begin():
            if way == "bulk":
                repo.add_decisions(s, rows)
                repo.add_decisions(s, [])
            else:
                s.execute(insert(repo._LINES), rows)
            table = repo._LINES
            read = s.execute(select(table).order_by(table.c.id)).all()
            stored[way] = [tuple(r)[1:] for r in read]
            raw = s.connection().exec_driver_sql(
                "SELECT * FROM line_decisions ORDER BY id").fetchall()
            stored[way + " raw"] = [tuple(r)[1:] for r in raw]
            s.rollback()
    assert len(stored["bulk"]) == len(rows)
    assert stored["bulk"] == stored["executemany"]
    assert stored["bulk raw"] == stored["executemany raw"]
    one = _decision(9999)
    with Session(engine) as s, s.begin():
        repo.add_decisions(s, [one])
        assert repo.decision_by_input(s, one["line_id"], one["input_sha256"]).decision_id \
            == "LD9999"


def test_decisions_are_found_by_their_inputs_in_chunks(engine) -> None:
    rows = [_decision(k) for k in range(1, 1200)]  # seven lines, many decisions each
    with Session(engine) as s, s.begin():
        repo.add_decisions(s, rows)
        pairs = [(r["line_id"], r["input_sha256"]) for r in rows[::2]]
        # a line's fingerprint asked for another line, and inputs never recorded
        pairs += [(rows[1]["line_id"], rows[2]["input_sha256"]), ("L1", "f" * 64),
                  ("L9", rows[3]["input_sha256"])] + pairs[:3]
        found = repo.decisions_by_inputs(s, pairs)
        assert found == {(r["line_id"], r["input_sha256"]): r["decision_id"]
                         for r in rows[::2]}
        assert all(repo.decision_by_input(s, *pair) is None
                   for pair in set(pairs) - set(found))
        assert repo.decisions_by_inputs(s, []) == {}
