"""The loan events form one hash chain, and signed checkpoints catch what a chain alone cannot:
a tail cut off both a chain and its head, or a chain rewritten and re-hashed (SQLite and
PostgreSQL, tampered with raw SQL as an attacker with database access would)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, select, text

from store_samples import drop_append_only

from puhui.errors import CheckpointError, TamperDetected
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import GENESIS_HASH, EntryDraft, Posting
from puhui.services.checkpoints import checkpoint_book, verify_book
from puhui.store.db import migrate, session_factory
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import (EVENTS, HEAD, LoanEventRepository, event_body, event_hash,
                                   payload_hash)

DAY = date(2024, 3, 1)
AT = datetime(2024, 3, 2, 9, 30, tzinfo=timezone.utc)
PRODUCT = json.dumps({"code": "P"})
KEY = Ed25519PrivateKey.generate()


def book(engine: Engine, loans: int = 3, events: int = 4, start: int = 0) -> None:
    """`loans` loans with `events` events each, interleaved, plus one journal entry per event."""
    with session_factory(engine).begin() as s:
        repo, ledger = LoanEventRepository(s), LedgerRepository(s)
        for n in range(loans):
            if repo.get_loan(f"L{n}") is None:
                repo.create_loan(f"L{n}", "CNY", PRODUCT, "active")
        for k in range(start, start + events):
            for n in range(loans):
                assert repo.append_event(f"L{n}", f"e{k}", "repayment", DAY,
                                         {"amount": 100 + k, "loan": n})
                ledger.append([EntryDraft(DAY, f"repayment {n}/{k}", (
                    Posting(Acct.CASH, 100 + k, "CNY", f"L{n}"),
                    Posting(Acct.LOAN_PRINCIPAL, -100 - k, "CNY", f"L{n}")), loan_id=f"L{n}")])



def verify(engine: Engine, against=None, key=KEY):
    with session_factory(engine)() as s:
        return verify_book(s, against, None if key is None else key.public_key())


def checkpoint(engine: Engine):
    with session_factory(engine)() as s:
        return checkpoint_book(s, KEY, AT)


def sql(engine: Engine, *statements: str, unprotect: tuple[str, ...] = ("loan_events",)) -> None:
    with engine.begin() as conn:
        for table in unprotect:
            drop_append_only(conn, table)
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_events_are_chained_across_loans_and_verify(engine: Engine) -> None:
    book(engine)
    with session_factory(engine)() as s:
        repo = LoanEventRepository(s)
        assert repo.verify_events() == (12, None)
        assert repo.verify_events(remember=5, chunk=4)[0] == 12  # chunked reads, same answer
        rows = s.execute(text("SELECT chain_seq, loan_id, seq, event_key, event_type, "
                              "payload_hash, prev_hash, hash FROM loan_events "
                              "ORDER BY chain_seq")).all()
        assert [r[0] for r in rows] == list(range(1, 13))
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
        assert repo.events_head() == (12, rows[-1].hash)
        assert repo.event_hash_at(5) == rows[4].hash and repo.event_hash_at(13) is None
        assert repo.verify_events(remember=5) == (12, rows[4].hash)
        # a replay (same key, same content) is not a new link
        assert not repo.append_event("L0", "e0", "repayment", DAY, {"amount": 100, "loan": 0})
    verified = verify(engine)
    assert (verified.journal.seq, verified.events.seq) == (12, 12)
    assert verified.events.hash == rows[-1].hash


def test_event_body_is_canonical_json() -> None:
    at = datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=timezone.utc)
    body = event_body(7, "L\u00e9\"1", 2, "k\n", "repayment", DAY, "ab" * 32, at)
    assert body == json.dumps({"chain_seq": 7, "loan_id": "L\u00e9\"1", "seq": 2,
                               "event_key": "k\n", "event_type": "repayment",
                               "occurred_on": "2024-03-01", "payload_hash": "ab" * 32,
                               "recorded_at": at.isoformat()},
                              sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(body)["loan_id"] == "L\u00e9\"1"
    assert event_hash(GENESIS_HASH, 7, "L1", 2, "k", "r", DAY, "ab" * 32, at) != \
        event_hash(GENESIS_HASH, 8, "L1", 2, "k", "r", DAY, "ab" * 32, at)


@pytest.mark.parametrize("statement, message", [
    # the payload and its own hash edited together: only the chain can tell
    ("UPDATE loan_events SET payload = '{\"amount\":1,\"loan\":1}', payload_hash = '{digest}' "
     "WHERE chain_seq = 5", "loan event 5 .* was altered"),
    ("UPDATE loan_events SET payload = '{\"amount\":1,\"loan\":1}' WHERE chain_seq = 5",
     "loan event 5 .* was altered"),
    ("UPDATE loan_events SET occurred_on = '2024-03-02' WHERE chain_seq = 7", "loan event 7"),
    ("UPDATE loan_events SET event_type = 'write_off' WHERE chain_seq = 12", "loan event 12"),
    ("UPDATE loan_events SET event_key = 'other' WHERE chain_seq = 4", "loan event 4"),
    ("DELETE FROM loan_events WHERE chain_seq = 6", "loan event 7 follows 5: an event is missing"),
    ("DELETE FROM loan_events WHERE chain_seq = 12", "events are missing"),
    ("UPDATE ledger_head SET events_seq = 11", "events are missing"),
    # two events trade places in the chain
    ("UPDATE loan_events SET chain_seq = CASE chain_seq WHEN 3 THEN 4 ELSE 3 END "
     "WHERE chain_seq IN (3, 4)", "loan event 3 does not link"),
])
def test_a_tampered_event_chain_fails_verify(engine: Engine, statement: str,
                                             message: str) -> None:
    book(engine)
    if "CASE" in statement:  # the unique index would refuse the swap half-way
        sql(engine, "DROP INDEX uq_loan_events_chain_seq", unprotect=())
    sql(engine, statement.replace("{digest}", payload_hash('{"amount":1,"loan":1}')))
    with pytest.raises(TamperDetected, match=message):
        verify(engine)


def test_a_loan_whose_event_numbers_skip_fails_verify(engine: Engine) -> None:
    """Even with the chain re-hashed around it, a loan's own history must have no hole."""
    book(engine, loans=1, events=3)
    rewrite_events(engine, lambda rows: [r if r["seq"] != 2 else {**r, "seq": 5} for r in rows])
    with pytest.raises(TamperDetected, match="event 5 of loan 'L0', whose last event was 1"):
        verify(engine)


def rewrite_events(engine: Engine, change) -> None:
    """Rewrite the whole event chain as an attacker who knows the hashing would: change the rows,
    re-hash every link and move the head to the new end."""
    with engine.begin() as conn:
        drop_append_only(conn, "loan_events")
        rows = [dict(r._mapping) for r in conn.execute(
            select(EVENTS).order_by(EVENTS.c.chain_seq))]
        _rechain(conn, change(rows))


def _rechain(conn: Connection, rows: list[dict]) -> None:
    conn.execute(text("DELETE FROM loan_events"))
    prev = GENESIS_HASH
    for n, row in enumerate(rows, start=1):
        digest = payload_hash(row["payload"])
        link = event_hash(prev, n, row["loan_id"], row["seq"], row["event_key"],
                          row["event_type"], row["occurred_on"], digest, row["recorded_at"])
        values = {**row, "payload_hash": digest, "chain_seq": n, "prev_hash": prev, "hash": link}
        if values["id"] is None:
            del values["id"]
        conn.execute(EVENTS.insert().values(**values))
        prev = link
    conn.execute(HEAD.update().values(events_seq=len(rows), events_hash=prev))


# -- checkpoints ------------------------------------------------------------------------------
def test_a_checkpoint_holds_while_the_book_grows(engine: Engine) -> None:
    book(engine)
    signed = checkpoint(engine)
    assert (signed.journal.seq, signed.events.seq) == (12, 12)
    assert signed.time == AT and len(signed.book_id) == 32
    assert verify(engine, signed).checkpoint == signed
    book(engine, events=2, start=10)
    grown = verify(engine, signed)
    assert (grown.journal.seq, grown.events.seq) == (18, 18)


def test_an_empty_book_can_be_checkpointed(engine: Engine) -> None:
    signed = checkpoint(engine)
    assert (signed.journal.seq, signed.journal.hash, signed.events.seq, signed.events.hash) \
        == (0, GENESIS_HASH, 0, GENESIS_HASH)
    book(engine, loans=1, events=1)
    assert verify(engine, signed).events.seq == 1


def test_events_cut_off_with_their_head_are_caught_by_a_checkpoint(engine: Engine) -> None:
    book(engine)
    signed = checkpoint(engine)
    sql(engine, "DELETE FROM loan_events WHERE chain_seq > 9",
        "UPDATE ledger_head SET events_seq = 9, "
        "events_hash = (SELECT hash FROM loan_events WHERE chain_seq = 9)")
    assert verify(engine).events.seq == 9  # a consistent shorter chain: only a checkpoint knows
    with pytest.raises(TamperDetected, match="has 9 events but the checkpoint signed 12: "
                                             "events were cut off"):
        verify(engine, signed)


def test_journal_entries_cut_off_with_their_head_are_caught_by_a_checkpoint(
        engine: Engine) -> None:
    book(engine)
    signed = checkpoint(engine)
    sql(engine, "DELETE FROM journal_postings WHERE entry_seq > 10",
        "DELETE FROM journal_entries WHERE seq > 10",
        "UPDATE ledger_head SET last_seq = 10, "
        "last_hash = (SELECT hash FROM journal_entries WHERE seq = 10)",
        unprotect=("journal_postings", "journal_entries"))
    assert verify(engine).journal.seq == 10
    with pytest.raises(TamperDetected, match="journal has 10 entries but the checkpoint "
                                             "signed 12"):
        verify(engine, signed)


def test_a_cut_and_regrown_chain_is_caught_by_a_checkpoint(engine: Engine) -> None:
    """Cut back and then grown past the checkpoint again: long enough, but not the same."""
    book(engine, loans=1, events=4)
    signed = checkpoint(engine)
    rewrite_events(engine, lambda rows: [*rows[:2], *[
        {**r, "payload": '{"amount":1}', "event_key": r["event_key"] + "x"} for r in rows[2:]],
        {**rows[-1], "id": None, "seq": 5, "event_key": "more"}])
    assert verify(engine).events.seq == 5
    with pytest.raises(TamperDetected, match="event 4 of the loan event chain is not the one "
                                             "the checkpoint signed"):
        verify(engine, signed)


def test_a_rewritten_and_rehashed_event_is_caught_by_a_checkpoint(engine: Engine) -> None:
    book(engine)
    signed = checkpoint(engine)
    rewrite_events(engine, lambda rows: [
        {**r, "payload": '{"amount":1,"loan":0}'} if r["chain_seq"] == 2 else r for r in rows])
    assert verify(engine).events.seq == 12  # re-hashed throughout: the chain alone is fooled
    with pytest.raises(TamperDetected, match="event 12 of the loan event chain is not the one"):
        verify(engine, signed)


def test_a_checkpoint_must_be_this_books_and_signed_by_the_given_key(engine: Engine) -> None:
    book(engine, loans=1, events=2)
    signed = checkpoint(engine)
    with pytest.raises(CheckpointError, match="signed by key"):
        verify(engine, signed, key=Ed25519PrivateKey.generate())
    with pytest.raises(CheckpointError, match="public key"):
        verify(engine, signed, key=None)
    from dataclasses import replace

    from puhui.ledger.checkpoint import ChainHead, sign
    forged = replace(signed, journal=ChainHead(1, signed.journal.hash))  # signature kept
    with pytest.raises(CheckpointError, match="signature does not verify"):
        verify(engine, forged)
    other = sign("f" * 32, signed.journal, signed.events, KEY, AT)
    with pytest.raises(CheckpointError, match="of book f+, not of this book"):
        verify(engine, other)


def test_migration_chains_the_events_of_an_existing_book(empty_db_url: str) -> None:
    """A book stored before events were chained verifies once migrated, in stored order."""
    from puhui.store.db import make_engine

    migrate(empty_db_url, "0006")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO loans (loan_id, currency, product, status, created_at,"
                              " updated_at, version) VALUES ('A', 'CNY', '{}', 'active', "
                              ":t, :t, 1), ('B', 'CNY', '{}', 'active', :t, :t, 1)"),
                         {"t": datetime(2024, 3, 1, tzinfo=timezone.utc).replace(tzinfo=None)})
            for n, (loan, seq) in enumerate([("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3)]):
                body = json.dumps({"n": n})
                conn.execute(text(
                    "INSERT INTO loan_events (loan_id, seq, event_key, event_type, occurred_on, "
                    "payload, payload_hash, recorded_at) VALUES (:l, :s, :k, 'repayment', "
                    ":on, :p, :h, :at)"),
                    {"l": loan, "s": seq, "k": f"k{n}", "on": DAY, "p": body,
                     "h": payload_hash(body),
                     "at": datetime(2024, 3, 1, 8, n, 0, 250_000)})
        migrate(empty_db_url)
        verified = verify(engine)
        assert verified.events.seq == 5 and len(verified.book_id) == 32
        with engine.connect() as conn:
            order = conn.execute(text("SELECT loan_id, seq FROM loan_events "
                                      "ORDER BY chain_seq")).all()
        assert [tuple(r) for r in order] == [("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3)]
        with session_factory(engine).begin() as s:  # new events chain on after the old ones
            assert LoanEventRepository(s).append_event("B", "k9", "repayment", DAY, {"n": 9})
        assert verify(engine).events.seq == 6
        with engine.begin() as conn:  # still append-only after the backfill lifted the guard
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text("UPDATE loan_events SET payload = '{}'"))
    finally:
        engine.dispose()
