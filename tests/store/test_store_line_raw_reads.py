"""The refresh's raw reads of credit lines and line decisions (`line_repo.of_applicants`,
`line_decision_repo.latest_decisions` and `last_repriced`) give the same rows, values and
Python types as the SQLAlchemy Core reads they replaced, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import count
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from puhui.store import line_decision_repo, line_repo

_AT = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=timezone.utc)
_APPS = ("AP1", "AP2", "AP3")

_line = st.fixed_dictionaries({
    "applicant": st.sampled_from(_APPS),
    "limit": st.integers(0, 10**12), "drawn": st.integers(0, 10**12),
    "opened": st.dates(date(2020, 1, 1), date(2027, 1, 1)),
    "changed": st.none() | st.dates(date(2020, 1, 1), date(2027, 1, 1)),
    "micro": st.integers(0, 999_999),
    "decisions": st.lists(st.tuples(st.dates(date(2024, 1, 1), date(2027, 1, 1)),
                                    st.none() | st.sampled_from(["0.12", "0.085"]),
                                    st.booleans()), max_size=4),
})


_RUNS = count()


def _store(conn: Any, lines: list[dict[str, Any]], run: int) -> None:
    """The lines (and decisions) of one example, under ids of its own: the decisions are
    append-only, so examples do not clear them but never read each other's."""
    for n, v in enumerate(lines):
        line_id = f"L{run}-{n:03d}"
        conn.execute(insert(line_repo.LINES), [{
            "line_id": line_id, "applicant_id": f"{v['applicant']}-{run}", "partner_id": None,
            "application_id": f"APP{run}-{n}", "contract_id": f"C{n}", "account_id": f"AC{n}",
            "product_code": "sme", "currency": "CNY", "credit_limit": v["limit"],
            "drawn": v["drawn"], "annual_rate": "0.1", "opened_on": v["opened"],
            "expires_on": v["opened"] + timedelta(days=365), "status": "active",
            "changed_on": v["changed"], "version": n,
            "created_at": _AT, "updated_at": _AT + timedelta(microseconds=v["micro"])}])
        rows = []
        for k, (day, rate, changes) in enumerate(v["decisions"]):
            rows.append((f"D{run}-{n}-{k}", line_id, f"{v['applicant']}-{run}", day, _AT, "feed", "p1", "a" * 64,
                         changes, None, rate, None, '{"r1": "2026-01-01"}', f"{k:064d}",
                         "{}", "b" * 64))
        line_decision_repo.bulk_add_decisions(conn, rows)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=8), asked=st.lists(st.sampled_from(_APPS + ("AP9",))))
def test_the_raw_line_reads_equal_the_core_reads(engine: Engine, lines: list,
                                                asked: list) -> None:
    run = next(_RUNS)
    asked = [f"{a}-{run}" for a in asked]
    with engine.begin() as conn:
        _store(conn, lines, run)
    with Session(engine) as session:
        raw = line_repo.of_applicants(session, asked)
        core = line_repo.of_applicants_core(session, asked)
        assert [tuple(r) for r in raw] == [tuple(c) for c in core]
        assert [[type(x) for x in r] for r in raw] == [[type(x) for x in c] for c in core]
        assert all(r.line_id == c.line_id and r.updated_at == c.updated_at
                   for r, c in zip(raw, core))
        ids = [r.line_id for r in raw] + ["L999"]
        latest = line_decision_repo.latest_decisions(session, ids)
        plain = line_decision_repo.latest_decisions_core(session, ids)
        assert {k: tuple(v) for k, v in latest.items()} == {k: tuple(v) for k, v in plain.items()}
        assert all(latest[k].engaged == plain[k].engaged for k in latest)
        repriced = line_decision_repo.last_repriced(session, ids)
        assert repriced == line_decision_repo.last_repriced_core(session, ids)
        assert all(type(d) is date for d in repriced.values())
        pairs = [(i, f"{k:064d}") for i in ids for k in range(5)] + [("L999", "0" * 64)]
        assert (line_decision_repo.decisions_by_inputs(session, pairs)
                == line_decision_repo.decisions_by_inputs_core(session, pairs))
        assert line_decision_repo.decisions_by_inputs(session, []) == {}
