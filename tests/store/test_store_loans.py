"""Loans and their event logs: idempotent appends, ordered replay, optimistic status updates."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from puhui.errors import (
    ConcurrentModification,
    IdempotencyConflict,
    InvalidEvent,
    TamperDetected,
    UnknownCurrency,
)
from puhui.store.db import session_factory
from puhui.store.loan_repo import LoanEventRepository, canonical_json

PRODUCT = json.dumps({"rate": "0.0435", "term": 12})
DAY = date(2024, 3, 1)


@pytest.fixture
def loans(session: Session) -> LoanEventRepository:
    repo = LoanEventRepository(session)
    repo.create_loan("L1", "CNY", PRODUCT, "pending")
    return repo


def test_create_and_read_loans(session: Session, loans: LoanEventRepository) -> None:
    record = loans.get_loan("L1")
    assert record is not None
    assert (record.loan_id, record.currency, record.status, record.version) == ("L1", "CNY",
                                                                                 "pending", 1)
    assert json.loads(record.product) == {"rate": "0.0435", "term": 12}
    assert loans.get_loan("nope") is None
    for i in range(2, 8):
        loans.create_loan(f"L{i}", "CNY", PRODUCT, "active" if i % 2 else "pending")
    session.commit()
    assert [r.loan_id for r in loans.list_loans()] == [f"L{i}" for i in range(1, 8)]
    assert [r.loan_id for r in loans.list_loans(status="active")] == ["L3", "L5", "L7"]
    assert [r.loan_id for r in loans.list_loans(limit=3, offset=2)] == ["L3", "L4", "L5"]


@pytest.mark.parametrize("args, error", [
    (("L1", "CNY", PRODUCT, "pending"), InvalidEvent),       # already exists
    (("", "CNY", PRODUCT, "pending"), InvalidEvent),
    (("L2", "XXX", PRODUCT, "pending"), UnknownCurrency),
    (("L2", "CNY", "not json", "pending"), InvalidEvent),
    (("L2", "CNY", "[1, 2]", "pending"), InvalidEvent),
])
def test_bad_loans_are_refused(loans: LoanEventRepository, args: tuple, error: type) -> None:
    with pytest.raises(error):
        loans.create_loan(*args)


def test_events_are_idempotent_by_key(session: Session, loans: LoanEventRepository) -> None:
    assert loans.append_event("L1", "disb-1", "disbursement", DAY, {"principal": 100_000})
    assert loans.append_event("L1", "pay-1", "repayment", DAY, {"amount": 5_000, "note": "微信"})
    session.commit()
    # A retry with the same key and content is a no-op, whatever the dict order.
    assert not loans.append_event("L1", "pay-1", "repayment", DAY, {"note": "微信", "amount": 5_000})
    for kind, on, payload in [("repayment", DAY, {"amount": 5_001, "note": "微信"}),
                              ("prepayment", DAY, {"amount": 5_000, "note": "微信"}),
                              ("repayment", date(2024, 3, 2), {"amount": 5_000, "note": "微信"})]:
        with pytest.raises(IdempotencyConflict, match="pay-1"):
            loans.append_event("L1", "pay-1", kind, on, payload)
    session.commit()  # nothing was written and the transaction is still healthy
    events = loans.events("L1")
    assert [(e["seq"], e["event_key"], e["event_type"]) for e in events] == [
        (1, "disb-1", "disbursement"), (2, "pay-1", "repayment")]
    assert events[1]["payload"] == {"amount": 5_000, "note": "微信"}
    assert events[1]["occurred_on"] == DAY
    body = canonical_json({"amount": 5_000, "note": "微信"})
    assert events[1]["payload_hash"] == hashlib.sha256(body.encode()).hexdigest()


def test_the_same_key_on_another_loan_is_another_event(loans: LoanEventRepository) -> None:
    loans.create_loan("L2", "CNY", PRODUCT, "pending")
    assert loans.append_event("L1", "eod:2024-03-01", "end_of_day", DAY, {})
    assert loans.append_event("L2", "eod:2024-03-01", "end_of_day", DAY, {})
    assert [e["seq"] for e in loans.events("L2")] == [1]


@pytest.mark.parametrize("payload", [
    {"amount": 12.5}, {"when": date(2024, 1, 1)}, {"nested": [{"x": float("nan")}]}, {1: "x"},
    ["not", "a", "mapping"],
])
def test_payloads_must_be_plain_json(loans: LoanEventRepository, payload) -> None:
    with pytest.raises(InvalidEvent):
        loans.append_event("L1", "k", "disbursement", DAY, payload)
    assert loans.events("L1") == []


def test_events_need_an_existing_loan_and_a_date(loans: LoanEventRepository) -> None:
    with pytest.raises(InvalidEvent, match="no loan"):
        loans.append_event("L9", "k", "disbursement", DAY, {})
    with pytest.raises(InvalidEvent, match="date"):
        loans.append_event("L1", "k", "disbursement", datetime(2024, 3, 1, tzinfo=timezone.utc), {})


def test_status_updates_are_optimistic(session: Session, loans: LoanEventRepository) -> None:
    assert loans.update_status("L1", "active", expected_version=1) == 2
    with pytest.raises(ConcurrentModification, match="version 2, not 1"):
        loans.update_status("L1", "closed", expected_version=1)
    with pytest.raises(InvalidEvent, match="no loan"):
        loans.update_status("L9", "closed", expected_version=1)
    record = loans.get_loan("L1")
    assert record is not None and (record.status, record.version) == ("active", 2)
    assert record.updated_at >= record.created_at


def test_a_stale_writer_loses(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        LoanEventRepository(s).create_loan("L1", "CNY", PRODUCT, "pending")
    with sessions() as s:
        seen = LoanEventRepository(s).get_loan("L1")
    assert seen is not None
    with sessions.begin() as s:
        LoanEventRepository(s).update_status("L1", "active", seen.version)
    with sessions() as s, pytest.raises(ConcurrentModification):
        LoanEventRepository(s).update_status("L1", "written_off", seen.version)


def test_an_edited_event_is_detected(engine: Engine, unprotect) -> None:
    with session_factory(engine).begin() as s:
        repo = LoanEventRepository(s)
        repo.create_loan("L1", "CNY", PRODUCT, "pending")
        repo.append_event("L1", "d", "disbursement", DAY, {"principal": 100})
    with engine.begin() as conn:
        unprotect(conn, "loan_events")
        conn.execute(text("UPDATE loan_events SET payload = :p"), {"p": '{"principal":1}'})
    with session_factory(engine)() as s, pytest.raises(TamperDetected):
        LoanEventRepository(s).events("L1")
