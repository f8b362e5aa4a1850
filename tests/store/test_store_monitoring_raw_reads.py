"""The refresh's raw reads of monitoring states (`states`, `states_with_summaries`, `complete`)
give the same rows, values and Python types as the SQLAlchemy Core reads they replaced, on
SQLite and PostgreSQL: dates, flags, UTC timestamps, missing bases and summaries, empty tails."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from puhui.store import monitoring_repo

_SCOPES = ("sales", "bank_statement", "utility", "tax")
_AT = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=timezone.utc)

_state = st.fixed_dictionaries({
    "as_of": st.dates(date(2020, 1, 1), date(2027, 1, 1)),
    "back": st.integers(0, 900),
    "in_order": st.booleans(),
    "covers_from": st.none() | st.dates(date(2020, 1, 1), date(2027, 1, 1)),
    "records": st.integers(0, 10_000),
    "payloads": st.integers(0, 500),
    "tail": st.none() | st.binary(max_size=64),
    "micro": st.integers(0, 999_999),
    "base": st.none() | st.binary(min_size=1, max_size=64),
    "summary": st.none() | st.binary(min_size=1, max_size=64),
})
_book = st.dictionaries(st.tuples(st.sampled_from(["AP1", "AP2", "AP3"]), st.sampled_from(_SCOPES)),
                        _state, max_size=10)


def _store(conn: Any, book: dict[tuple[str, str], dict[str, Any]]) -> None:
    for table in ("monitoring_summaries", "monitoring_bases", "monitoring_applicants",
                  "monitoring_state"):
        conn.execute(text(f"DELETE FROM {table}"))
    rows = []
    for (a, s), v in sorted(book.items()):
        rows.append({"applicant_id": a, "scope": s, "business_id": f"B-{a}",
                     "as_of": v["as_of"], "first_as_of": v["as_of"] - timedelta(days=v["back"]),
                     "in_order": v["in_order"], "covers_from": v["covers_from"],
                     "records": v["records"], "payloads": v["payloads"],
                     "payload_sha256": "c" * 64, "tail_sha256": None if v["tail"] is None
                     else "d" * 64, "tail": v["tail"],
                     "updated_at": _AT + timedelta(microseconds=v["micro"]),
                     "codec": "seg1+zstd", "sha256": "e" * 64, "blob": v["base"] or b"x"})
    monitoring_repo.save_states(conn, rows)
    for (a, s), v in book.items():
        if v["base"] is None:
            conn.execute(text("DELETE FROM monitoring_bases WHERE applicant_id = :a AND "
                              "scope = :s"), {"a": a, "s": s})
        if v["summary"] is not None:
            monitoring_repo.save_summaries(conn, [{
                "applicant_id": a, "scope": s, "base_sha256": "f" * 64,
                "window_from": v["as_of"] - timedelta(days=30), "blob": v["summary"]}])
    marked = sorted({a for a, _ in book})[:1]
    monitoring_repo.mark_complete(conn, marked, _AT)


def _same(raw: list[Any], core: list[Any], names: tuple[str, ...]) -> None:
    assert len(raw) == len(core)
    for r, c in zip(raw, core):
        for n in names:
            assert getattr(r, n) == getattr(c, n), n
            assert type(getattr(r, n)) is type(getattr(c, n)), n


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=_book, scopes=st.none() | st.lists(st.sampled_from(_SCOPES), unique=True))
def test_the_raw_reads_equal_the_core_reads(engine: Engine, book: dict, scopes: Any) -> None:
    ids = ["AP3", "AP1", "AP2", "AP9"]
    with engine.begin() as conn:
        _store(conn, book)
        full = tuple(c.name for c in monitoring_repo._STATE.columns)
        for base, names in ((True, full + ("codec", "sha256", "blob")), (False, full)):
            raw = monitoring_repo.states(conn, ids, scopes, base=base)
            core = monitoring_repo.states_core(conn, ids, scopes, base=base)
            _same(raw, core, names)
        wanted = list(scopes or _SCOPES)
        _same(monitoring_repo.states_with_summaries(conn, ids, wanted),
              monitoring_repo.states_with_summaries_core(conn, ids, wanted),
              monitoring_repo.SUMMARY_ROW_NAMES)
        assert monitoring_repo.complete(conn, ids) == ({"AP1", "AP2", "AP3"} & {a for a, _ in book}
                                                       and {min(a for a, _ in book)})


def test_the_raw_reads_take_many_chunks(engine: Engine) -> None:
    """More applicants than one IN list holds: every chunk is read, nothing twice."""
    many = {(f"A{i:04d}", "sales"): {"as_of": date(2026, 11, 1), "back": 40, "in_order": True,
                                     "covers_from": None, "records": i, "payloads": 1,
                                     "tail": b"t", "micro": i, "base": b"b", "summary": b"s"}
            for i in range(1_100)}
    with engine.begin() as conn:
        _store(conn, many)
        ids = sorted(a for a, _ in many) * 2
        raw = monitoring_repo.states_with_summaries(conn, ids, ["sales"])
        core = monitoring_repo.states_with_summaries_core(conn, ids, ["sales"])
        _same(sorted(raw), sorted(core, key=lambda r: (r.applicant_id,)),
              monitoring_repo.SUMMARY_ROW_NAMES)
        assert len(raw) == 1_100
        assert monitoring_repo.complete(conn, ids) == {"A0000"}
