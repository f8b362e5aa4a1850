"""The rate cap setting in the database, on SQLite and PostgreSQL: seeded at 24%, recorded
after validation, read back exactly, append-only, and gone with a downgrade."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from puhui.errors import InvalidRateCap
from puhui.loans.caps import CapKind, CapVersion, LprPublication
from puhui.store.caps_repo import (current_cap_schedule, load_cap_schedule,
                                   record_cap_version, record_lpr)
from puhui.store.db import alembic_config, migrate, session_factory

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def test_a_new_database_starts_at_the_old_fixed_24_percent(engine: Engine) -> None:
    with session_factory(engine)() as session:
        schedule = load_cap_schedule(session)
    assert schedule.lprs == [] and len(schedule.versions) == 1
    cap = schedule.cap_in_force(TODAY)
    assert cap.annual_limit == Decimal("0.24") and cap.label == "24% comprehensive cost cap"
    assert cap.provenance.version == 1 and cap.provenance.effective_from == date(2000, 1, 1)


def test_versions_and_lprs_are_recorded_and_read_back_exactly(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        lpr = record_lpr(session, LprPublication(0, Decimal("0.0300"), date(2026, 2, 20), TODAY),
                         TODAY, NOW, "K-ops")
        v = record_cap_version(session, CapVersion(
            0, date(2026, 3, 3), CapKind.LPR_MULTIPLE, multiple=Decimal("4"), note="board"),
            TODAY, NOW, "K-ops")
    assert (lpr.id, v.version) == (1, 2)
    with session_factory(engine)() as session:
        schedule = load_cap_schedule(session)
    assert schedule.lprs == [lpr] and schedule.versions[-1] == v
    assert v.recorded_at == NOW and v.recorded_by == "K-ops" and v.note == "board"
    assert schedule.cap_in_force(TODAY).annual_limit == Decimal("0.24")
    cap = schedule.cap_in_force(date(2026, 3, 3))
    assert cap.annual_limit == Decimal("0.12") and cap.provenance.lpr_id == 1


def test_the_schedule_read_per_application_follows_every_change(engine: Engine) -> None:
    """The cached schedule is read again as soon as a version or an LPR is added, whichever
    session (or process) added it; unchanged, the same schedule serves the next request."""
    sessions = session_factory(engine)
    with sessions() as session:
        first = current_cap_schedule(session)
    with sessions() as session:
        assert current_cap_schedule(session) is first
        full = load_cap_schedule(session)
    assert (first.versions, first.lprs) == (full.versions, full.lprs)
    with sessions.begin() as session:
        record_lpr(session, LprPublication(0, Decimal("0.0300"), date(2026, 2, 20), TODAY),
                   TODAY, NOW, "K-ops")
    with sessions() as session:
        after_lpr = current_cap_schedule(session)
    assert after_lpr is not first and len(after_lpr.lprs) == 1
    with sessions.begin() as session:
        record_cap_version(session, CapVersion(
            0, date(2026, 3, 3), CapKind.LPR_MULTIPLE, multiple=Decimal("4")), TODAY, NOW, "K")
    with sessions() as session:
        latest = current_cap_schedule(session)
        full = load_cap_schedule(session)
    assert latest.cap_in_force(date(2026, 3, 3)).annual_limit == Decimal("0.12")
    assert (latest.versions, latest.lprs) == (full.versions, full.lprs)


def test_a_refused_change_writes_nothing(engine: Engine) -> None:
    with pytest.raises(InvalidRateCap, match="in the past"):
        with session_factory(engine).begin() as session:
            record_cap_version(session, CapVersion(0, date(2026, 3, 1), CapKind.FIXED,
                                                   rate=Decimal("0.2")), TODAY, NOW, "K")
    with pytest.raises(InvalidRateCap, match="took effect on 2000-01-01"):
        with session_factory(engine).begin() as session:
            record_cap_version(session, CapVersion(0, date(2000, 1, 1), CapKind.FIXED,
                                                   rate=Decimal("0.2")), date(2000, 1, 1), NOW,
                               "K")
    with session_factory(engine)() as session:
        assert len(load_cap_schedule(session).versions) == 1


@pytest.mark.parametrize("statement", [
    "UPDATE rate_cap_versions SET rate = '0.36'", "DELETE FROM rate_cap_versions",
    "UPDATE lpr_publications SET rate = '0.05'", "DELETE FROM lpr_publications"])
def test_the_history_is_append_only(engine: Engine, statement: str) -> None:
    with session_factory(engine).begin() as session:
        record_lpr(session, LprPublication(0, Decimal("0.03"), date(2026, 2, 20), TODAY),
                   TODAY, NOW, "K")
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))


def test_downgrade_drops_the_tables_and_upgrade_seeds_again(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert not {"rate_cap_versions", "lpr_publications"} & set(
        inspect(engine).get_table_names())
    migrate(engine)
    with session_factory(engine)() as session:
        assert load_cap_schedule(session).cap_in_force(TODAY).annual_limit == Decimal("0.24")
