"""A planned unit decides in a read transaction and writes only its INSERTs, under the lock."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from puhui.errors import ConsentError
from puhui.parties.synthetic import small_business
from puhui.services import access, applicants
from puhui.services import applications as svc
from puhui.services.planned import UnplannableWrite, check_at_commit, planned
from puhui.services.platform import Platform
from puhui.store.platform_models import ApplicationRow, ConsentLogRow, OfferRow

PARTNER = access.Principal("test", access.Role.PARTNER, access.ROLE_PERMS[access.Role.PARTNER],
                           "P-TEST")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    platform = Platform.open(f"sqlite:///{tmp_path / 'planned.sqlite'}")
    try:
        yield platform
    finally:
        platform.close()


def applicant(platform: Platform, consent: bool = True) -> tuple[str, str | None]:
    business = small_business(random.Random(3), date.today(), monthly_revenue=150_000 * 100)
    with platform.unit() as session:
        applicant_id = applicants.register_applicant(platform, session, PARTNER,
                                                     business)["applicant_id"]
        consent_id = applicants.grant_consent(
            platform, session, PARTNER, applicant_id, "credit_assessment",
            ["identity"])["consent_id"] if consent else None
    return applicant_id, consent_id


def count(platform: Platform, model: type) -> int:
    with platform.read() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def apply(platform: Platform, session, applicant_id: str) -> svc.AppRecord:
    return svc.apply(platform, session, PARTNER, applicant_id, "SME-EI-12", 10_000_000)


def test_nothing_is_written_until_the_plan_is_and_then_all_of_it(platform: Platform) -> None:
    applicant_id, _ = applicant(platform)
    with planned(platform) as (session, plan):
        row = apply(platform, session, applicant_id)
        view = svc.application_view(session, row)  # the offer comes from memory
    assert view["status"] == "offered" and view["offer"]["offer_id"] == row.offer_id
    assert count(platform, ApplicationRow) == 0 and count(platform, OfferRow) == 0
    with platform.unit() as session:
        plan.write(session)
    with platform.read() as session:
        stored = svc.get_application(session, PARTNER, row.application_id)
    assert stored == view
    with platform.read() as session:
        used = session.execute(select(ConsentLogRow.application_id)
                               .where(ConsentLogRow.action == "used")).scalars().all()
    assert used == [row.application_id]


def test_a_consent_revoked_before_the_write_stops_it(platform: Platform) -> None:
    applicant_id, consent_id = applicant(platform)
    with planned(platform) as (session, plan):
        apply(platform, session, applicant_id)
    with platform.unit() as session:
        applicants.revoke_consent(platform, session, PARTNER, applicant_id, consent_id)
    with pytest.raises(ConsentError), platform.unit() as session:
        plan.write(session)
    assert count(platform, ApplicationRow) == 0 and count(platform, OfferRow) == 0


def test_a_refusal_in_the_read_phase_is_kept_as_evidence(platform: Platform) -> None:
    applicant_id, _ = applicant(platform, consent=False)
    with pytest.raises(ConsentError), planned(platform) as (session, _plan):
        apply(platform, session, applicant_id)
    with platform.read() as session:
        actions = session.execute(select(ConsentLogRow.action)).scalars().all()
    assert "refused" in actions
    assert count(platform, ApplicationRow) == 0


def test_only_inserts_can_be_planned(platform: Platform) -> None:
    applicant_id, _ = applicant(platform)
    with pytest.raises(UnplannableWrite, match="only INSERT"), \
            planned(platform) as (session, _plan):
        session.execute(update(ApplicationRow).values(status="x"))
    with pytest.raises(UnplannableWrite, match="ORM objects"), \
            planned(platform) as (session, _plan):
        session.add(OfferRow(offer_id="O1", application_id="A1", data="{}",
                             created_at=platform.clock.now(), expires_at=platform.clock.now()))



@pytest.mark.parametrize("own_read_engine", [True, False])
def test_a_write_around_the_plan_is_refused_not_lost(platform: Platform,
                                                     own_read_engine: bool) -> None:
    """Sent on the session's connection directly, a write would bypass the plan: the database
    refuses it, whether the platform reads through its read-only engine or, without one, through
    its main engine (switched to read-only for the planned unit, and back after)."""
    if not own_read_engine:
        platform = Platform(engine=platform.engine, book=platform.book)
    with pytest.raises(OperationalError, match="readonly"), \
            planned(platform) as (session, _plan):
        session.connection().execute(text("CREATE TABLE planned_scratch (x INTEGER)"))
    with platform.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 0
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE name = 'planned_scratch'").scalar() == 0


def test_checks_run_again_in_the_writing_transaction(platform: Platform) -> None:
    seen: list[bool] = []
    with planned(platform) as (session, plan):
        check_at_commit(session, lambda writer: seen.append(writer.in_transaction()))
        assert seen == []
    with platform.unit() as session:
        plan.write(session)
    assert seen == [True]
    with platform.unit() as session:  # outside a planned unit it is the caller's own check
        check_at_commit(session, lambda writer: seen.append(False))
    assert seen == [True]


def test_work_that_updates_runs_as_an_ordinary_unit_instead(platform: Platform) -> None:
    """The hot API path plans on SQLite; work that turns out to update is done again, whole, as
    an ordinary unit, and answers as it would have."""
    import asyncio

    from starlette.requests import Request

    from puhui.api.calls import Call

    applicant_id, _ = applicant(platform)
    runs: list[str] = []

    def work(session) -> dict:
        runs.append("run")
        row = apply(platform, session, applicant_id)
        session.execute(update(ApplicationRow).where(ApplicationRow.application_id == "none")
                        .values(status="x"))
        return {"application_id": row.application_id}

    request = Request({"type": "http", "method": "POST", "path": "/v1/applications",
                       "query_string": b"", "headers": []})
    answer = asyncio.run(Call(platform, PARTNER, request, b"{}", "key-1").write_hot(work, 201))
    assert answer.status_code == 201 and len(runs) == 2
    assert count(platform, ApplicationRow) == 1


def test_two_requests_with_one_key_decided_at_once_store_one_and_answer_alike(
        platform: Platform) -> None:
    """Both pass the replay check before either writes: the second's write meets the first's
    idempotency record and answers with the first's response."""
    import asyncio
    import threading

    from starlette.requests import Request

    from puhui.api.calls import Call

    applicant_id, _ = applicant(platform)
    both_decided = threading.Barrier(2, timeout=10)

    def work(session) -> dict:
        row = apply(platform, session, applicant_id)
        both_decided.wait()
        return svc.application_view(session, row)

    answers: list = []

    def post() -> None:
        request = Request({"type": "http", "method": "POST", "path": "/v1/applications",
                           "query_string": b"", "headers": []})
        call = Call(platform, PARTNER, request, b'{"same": "body"}', "same-key")
        answers.append(asyncio.run(call.write_hot(work, 201)))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].body == answers[1].body
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert count(platform, ApplicationRow) == 1


def test_a_write_at_commit_waits_for_the_plan_and_runs_at_once_otherwise(
        platform: Platform) -> None:
    """A delete of rows the unit's INSERTs make stale (an application's payloads drop the
    merged monitoring states) cannot be planned as such: it runs with the plan's writes, under
    the lock, and never in the read phase."""
    from puhui.services.planned import write_at_commit

    done: list[str] = []
    with planned(platform) as (session, plan):
        write_at_commit(session, lambda writer: done.append("planned"))
        assert done == []  # not in the read phase
    with platform.unit() as session:
        plan.write(session)
    assert done == ["planned"]
    with platform.unit() as session:
        write_at_commit(session, lambda writer: done.append(f"unit:{writer is session}"))
        assert done == ["planned", "unit:True"]
