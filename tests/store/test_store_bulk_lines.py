"""The bulk statements of the credit lines and the notifications' outbox (what
`services.lines.change_lines` reads and writes through), on SQLite and PostgreSQL: each answers
exactly what its one-row form answers for every row it is given."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from puhui.store import line_repo, notification_repo

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _line(line_id: str, version: int = 1) -> dict:
    return {"line_id": line_id, "applicant_id": f"AP{line_id}", "partner_id": None,
            "application_id": f"APP{line_id}", "contract_id": f"CT{line_id}",
            "account_id": f"AC{line_id}", "product_code": "SME-RV-180", "currency": "CNY",
            "credit_limit": 1_000_000, "drawn": 0, "annual_rate": "0.12",
            "opened_on": date(2026, 1, 5), "expires_on": date(2027, 1, 5), "status": "active",
            "changed_on": None, "version": version, "created_at": NOW, "updated_at": NOW}


def _event(line_id: str, seq: int, key: str, kind: str = "limit_changed") -> dict:
    return {"line_id": line_id, "seq": seq, "kind": kind, "request_key": key,
            "event_key": f"{key}/{kind}", "occurred_on": date(2026, 3, 2), "reason": "r",
            "actor": "system", "amount": 0, "commitment": 0, "credit_limit": 1_000_000,
            "drawn": 0, "annual_rate": "0.12", "status": "active", "loan_id": None,
            "decision_id": None, "journal_seq": None, "recorded_at": NOW}


def test_lines_and_their_requests_events_read_in_bulk_as_one_by_one(engine) -> None:
    with Session(engine) as s, s.begin():
        for line_id in ("L1", "L2", "L3"):
            line_repo.insert_line(s, _line(line_id))
        line_repo.insert_events(s, [_event("L1", 2, "k1"), _event("L1", 3, "k2"),
                                    _event("L1", 4, "k1", "price_changed"),
                                    _event("L2", 2, "k2"), _event("L3", 2, "k3")])
    with Session(engine) as s, s.begin():
        rows = line_repo.read_many(s, ["L2", "L1", "L9", "L1"], lock=True)
        assert sorted(rows) == ["L1", "L2"]
        assert all(rows[i] == line_repo.read(s, i) for i in rows)
        pairs = [("L1", "k1"), ("L2", "k2"), ("L3", "k1"), ("L9", "k1")]
        found = line_repo.events_of_requests(s, pairs)
        assert set(found) == {("L1", "k1"), ("L2", "k2")}  # L1's k2 was not asked for
        for line_id, key in pairs:
            assert found.get((line_id, key), []) == line_repo.events(s, line_id, key)
        assert [e.seq for e in found[("L1", "k1")]] == [2, 4]


def test_lines_are_written_in_bulk_only_at_the_version_read(engine) -> None:
    with Session(engine) as s, s.begin():
        line_repo.insert_line(s, _line("L1"))
        line_repo.insert_line(s, _line("L2", version=3))
    values = {"credit_limit": 2_000_000, "drawn": 5, "annual_rate": "0.1", "status": "frozen",
              "changed_on": date(2026, 3, 2), "version": 2, "updated_at": NOW}
    with Session(engine) as s, s.begin():
        assert line_repo.update_lines(s, []) == 0
        assert line_repo.update_lines(s, [("L1", 1, values), ("L2", 1, values)]) == 1
    with Session(engine) as s:
        one, two = line_repo.read(s, "L1"), line_repo.read(s, "L2")
    assert (one.credit_limit, one.drawn, one.annual_rate, one.status, one.version) == \
        (2_000_000, 5, "0.1", "frozen", 2)
    assert (two.credit_limit, two.status, two.version) == (1_000_000, "active", 3)


def test_notification_keys_are_found_in_bulk(engine) -> None:
    row = {"notification_id": "NT1", "key": "k1", "channel": "log", "applicant_id": "AP1",
           "partner_id": None, "loan_id": None, "kind": "line_changed", "subject": "s",
           "body": "b", "context": "{}", "recipient": None, "recipient_masked": "",
           "status": "pending", "attempts": 0, "created_at": NOW, "not_before": NOW,
           "claimed_at": None, "sent_at": None, "channel_message_id": None,
           "last_error": None}
    with Session(engine) as s, s.begin():
        notification_repo.add(s, [row, {**row, "notification_id": "NT2", "channel": "sms"}])
    with Session(engine) as s:
        assert notification_repo.keys_recorded_among(s, ["k1", "k2", "k1"]) == {"k1"}
        assert notification_repo.keys_recorded_among(s, []) == set()
        assert notification_repo.contacts_of(s, ["AP1"], ["email", "push"]) == {}
