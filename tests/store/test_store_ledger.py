"""The durable journal keeps the in-memory journal's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.errors import (
    IdempotencyConflict,
    ImmutableEntry,
    InvalidAttestation,
    LedgerError,
    TamperDetected,
    UnbalancedEntry,
    UnknownAccount,
)
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import GENESIS_HASH, Attestation, EntryDraft, Journal, Posting
from puhui.store.db import session_factory
from puhui.store.ledger_repo import LedgerRepository

DAY = date(2024, 3, 1)


def disbursement(i: int, amount: int = 100_000, key: str | None = None) -> EntryDraft:
    loan = f"L{i:04d}"
    return EntryDraft(DAY, f"disbursement {loan}", (
        Posting(Acct.LOAN_PRINCIPAL, amount, "CNY", loan),
        Posting(Acct.CASH, -amount, "CNY", loan)),
        event_key=key, loan_id=loan)


def post(engine: Engine, drafts: list[EntryDraft]) -> list:
    with session_factory(engine).begin() as session:
        return LedgerRepository(session).append(drafts)


def test_append_then_read_back_and_verify(engine: Engine) -> None:
    sealed = post(engine, [disbursement(i, 1000 + i, key=f"d{i}") for i in range(1, 8)])
    sealed += post(engine, [disbursement(i, 1000 + i) for i in range(8, 12)])
    assert [e.seq for e in sealed] == list(range(1, 12))
    assert sealed[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(sealed, sealed[1:]))
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert list(repo.entries(chunk=4)) == sealed  # chunked streaming rebuilds exact entries
        assert list(repo.entries(from_seq=9)) == sealed[8:]
        assert repo.verify() == 11
        assert repo.head() == (11, sealed[-1].hash)
        assert repo.get(3) == sealed[2]
        assert repo.get(99) is None
        assert repo.find_by_event_key("d5") == sealed[4]
        assert repo.find_by_event_key("nope") is None
        assert sealed[0].created_at.tzinfo is not None


def test_balances_match_the_in_memory_journal(engine: Engine) -> None:
    rng = random.Random(7)
    memory = Journal()
    drafts = []
    for i in range(300):
        currency = rng.choice(["CNY", "CNY", "USD"])
        loan = rng.choice(["A", "B", "C", None])
        amount = rng.randint(1, 10**9)
        split = rng.randint(1, amount)
        lines: tuple[Posting, ...] = (Posting(Acct.CASH, amount, currency, loan),
                                      Posting(Acct.LOAN_PRINCIPAL, -split, currency, loan))
        if split < amount:
            lines += (Posting(Acct.INTEREST_INCOME, split - amount, currency, loan),)
        drafts.append(EntryDraft(DAY, f"entry {i}", lines, loan_id=loan))
    for start in range(0, len(drafts), 70):
        post(engine, drafts[start:start + 70])
        memory.post_all(drafts[start:start + 70])
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert repo.balances() == memory.balances()
        for loan in ("A", "B", "C"):
            assert repo.balances(loan) == memory.balances(loan)
        assert repo.trial_balance() == memory.trial_balance()
        assert all(v == 0 for v in repo.trial_balance().values())
        assert repo.verify() == 300


@pytest.mark.parametrize("bad, error", [
    (EntryDraft(DAY, "one-sided", (Posting(Acct.CASH, 100),)), UnbalancedEntry),
    (EntryDraft(DAY, "off by one", (Posting(Acct.CASH, 100), Posting(Acct.CAPITAL, -99))),
     UnbalancedEntry),
    (EntryDraft(DAY, "no such account", (Posting("9999", 100), Posting(Acct.CASH, -100))),
     UnknownAccount),
    (EntryDraft(datetime(2024, 3, 1, tzinfo=timezone.utc), "a datetime",
                (Posting(Acct.CASH, 1), Posting(Acct.CAPITAL, -1))), LedgerError),
    (EntryDraft(DAY, "long key", (Posting(Acct.CASH, 1), Posting(Acct.CAPITAL, -1)),
                event_key="k" * 201), LedgerError),
    (EntryDraft(DAY, "bad target", (Posting(Acct.CASH, 1), Posting(Acct.CAPITAL, -1)),
                reverses="1"), LedgerError),  # type: ignore[arg-type]
])
def test_a_bad_draft_writes_nothing(session: Session, bad: EntryDraft, error: type) -> None:
    repo = LedgerRepository(session)
    with pytest.raises(error):
        repo.append([disbursement(1), bad, disbursement(2)])
    assert repo.head() == (0, GENESIS_HASH)
    assert list(repo.entries()) == []
    session.commit()  # the transaction is still usable
    assert repo.append([disbursement(3)])[0].seq == 1


def test_event_keys_are_unique(engine: Engine) -> None:
    post(engine, [disbursement(1, key="evt-1")])
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        with pytest.raises(IdempotencyConflict, match="already posted as entry 1"):
            repo.append([disbursement(2, key="evt-2"), disbursement(3, key="evt-1")])
        with pytest.raises(IdempotencyConflict, match="twice"):
            repo.append([disbursement(2, key="evt-2"), disbursement(3, key="evt-2")])
        assert repo.head()[0] == 1


def test_reversal_mirrors_the_entry_once(engine: Engine) -> None:
    post(engine, [disbursement(1, 5_000), disbursement(2, 7_000)])
    with session_factory(engine).begin() as session:
        mirror = LedgerRepository(session).reverse(1, date(2024, 3, 2), event_key="rev-1")
    assert mirror.seq == 3 and mirror.reverses == 1 and mirror.loan_id == "L0001"
    assert mirror.description == "reversal of entry 1"
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert repo.balances("L0001") == {}
        assert repo.find_by_event_key("rev-1") == mirror
        with pytest.raises(ImmutableEntry, match="already reversed"):
            repo.reverse(1, date(2024, 3, 3))
        with pytest.raises(ImmutableEntry):  # a hand-made reversal draft is refused too
            repo.append([EntryDraft(DAY, "again", (Posting(Acct.CASH, 5_000),
                                                   Posting(Acct.LOAN_PRINCIPAL, -5_000)),
                                    reverses=1)])
        with pytest.raises(ImmutableEntry, match="twice"):
            repo.append([EntryDraft(DAY, f"r{i}", (Posting(Acct.CASH, 7_000),
                                                   Posting(Acct.LOAN_PRINCIPAL, -7_000)),
                                    reverses=2) for i in range(2)])
        with pytest.raises(LedgerError, match="no journal entry 42"):
            repo.reverse(42, DAY)
        assert repo.verify() == 3


def test_tampering_with_an_amount_is_detected(engine: Engine, unprotect) -> None:
    post(engine, [disbursement(i) for i in range(1, 6)])
    with engine.begin() as conn:
        unprotect(conn, "journal_postings")
        # Still balanced, so only the hash chain can tell.
        conn.execute(text("UPDATE journal_postings SET amount = amount * 2 WHERE entry_seq = 3"))
    with session_factory(engine)() as session:
        with pytest.raises(TamperDetected, match="entry 3 was altered"):
            LedgerRepository(session).verify()


def test_tampering_with_a_description_is_detected(engine: Engine, unprotect) -> None:
    post(engine, [disbursement(i) for i in range(1, 4)])
    with engine.begin() as conn:
        unprotect(conn, "journal_entries")
        conn.execute(text("UPDATE journal_entries SET description = 'nothing' WHERE seq = 2"))
    with session_factory(engine)() as session:
        with pytest.raises(TamperDetected, match="entry 2"):
            LedgerRepository(session).verify()


def test_cutting_entries_off_the_end_is_detected(engine: Engine, unprotect) -> None:
    post(engine, [disbursement(i) for i in range(1, 4)])
    with engine.begin() as conn:
        unprotect(conn, "journal_postings")
        unprotect(conn, "journal_entries")
        conn.execute(text("DELETE FROM journal_postings WHERE entry_seq = 3"))
        conn.execute(text("DELETE FROM journal_entries WHERE seq = 3"))
    with session_factory(engine)() as session:
        with pytest.raises(TamperDetected, match="entries are missing"):
            LedgerRepository(session).verify()


def test_append_of_nothing_is_nothing(session: Session) -> None:
    assert LedgerRepository(session).append([]) == []
    assert LedgerRepository(session).verify() == 0


# -- attestations -----------------------------------------------------------------------------
CONTRACT = ("loan_contract", "C123", "3f" * 32)


def test_attest_read_back_and_verify(engine: Engine) -> None:
    post(engine, [disbursement(i, 1000 + i) for i in range(1, 4)])
    with session_factory(engine).begin() as session:
        repo = LedgerRepository(session)
        before = (repo.balances(), repo.balances("L0001"), repo.trial_balance())
        entry = repo.attest(*CONTRACT, DAY, "contract C123 signed", event_key="sign:C123")
        assert (entry.seq, entry.postings, entry.attests) == (4, (), Attestation(*CONTRACT))
        assert (repo.balances(), repo.balances("L0001"), repo.trial_balance()) == before
        repo.append([disbursement(9)])  # money entries chain on after it
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert repo.get(4) == entry
        assert repo.find_by_event_key("sign:C123") == entry
        assert repo.attestation("loan_contract", "C123") == entry
        assert repo.attestation("loan_contract", "C124") is None
        assert list(repo.entries(chunk=2))[3] == entry
        assert repo.balances("L0001") == before[1] and repo.trial_balance() == {"CNY": 0}
        assert repo.verify() == 5


def test_the_latest_attestation_of_a_document_is_found(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        repo = LedgerRepository(session)
        repo.attest("loan_contract", "C1", "0" * 64, DAY, "signed")
        repo.append([disbursement(1)])
        repo.attest("loan_contract", "C2", "1" * 64, DAY, "another contract")
        amended = repo.attest("loan_contract", "C1", "2" * 64, DAY, "amendment signed")
    with session_factory(engine)() as session:
        assert LedgerRepository(session).attestation("loan_contract", "C1") == amended
        assert LedgerRepository(session).verify() == 4


def test_attestations_and_money_entries_in_one_append(engine: Engine) -> None:
    memory = Journal()
    drafts = [disbursement(1), EntryDraft(DAY, "signed", (), "sign:C1", "L0001",
                                          attests=Attestation("loan_contract", "C1", "a" * 64)),
              disbursement(2), EntryDraft(DAY, "signed", (), None, None,
                                          attests=Attestation("loan_contract", "C2", "b" * 64))]
    sealed = post(engine, drafts)
    memory.post_all(drafts)
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert list(repo.entries()) == sealed
        assert repo.balances() == memory.balances() and repo.balances("L0001") == memory.balances(
            "L0001")
        assert repo.verify() == 4
        assert [e.attests is not None for e in repo.entries()] == [False, True, False, True]


def test_re_attesting_with_the_same_key_is_idempotent(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        first = LedgerRepository(session).attest(*CONTRACT, DAY, "signed", event_key="sign:C123")
    with session_factory(engine).begin() as session:
        repo = LedgerRepository(session)
        assert repo.attest(*CONTRACT, DAY, "signed", event_key="sign:C123") == first
        assert repo.head()[0] == 1
        with pytest.raises(IdempotencyConflict, match="sign:C123"):
            repo.attest("loan_contract", "C123", "4" * 64, DAY, "signed", event_key="sign:C123")
        with pytest.raises(IdempotencyConflict, match="sign:C123"):  # append refuses the key too
            repo.append([disbursement(1, key="sign:C123")])
    with session_factory(engine)() as session:
        assert LedgerRepository(session).verify() == 1


@pytest.mark.parametrize("args", [
    ("loan_contract", "C1", "3F" * 32),
    ("loan_contract", "C1", "3f" * 31),
    ("loan_contract", "C1", "z" * 64),
    ("", "C1", "3f" * 32),
    ("k" * 65, "C1", "3f" * 32),
    ("loan_contract", "r" * 201, "3f" * 32),
])
def test_malformed_attestations_write_nothing(session: Session, args) -> None:
    repo = LedgerRepository(session)
    with pytest.raises(InvalidAttestation):
        repo.attest(*args, DAY, "bad", event_key="k")
    with pytest.raises(InvalidAttestation):
        repo.append([disbursement(1), EntryDraft(DAY, "bad", (), attests=Attestation(*args))])
    assert repo.head() == (0, GENESIS_HASH) and list(repo.entries()) == []


def test_an_attestation_with_postings_is_refused(session: Session) -> None:
    repo = LedgerRepository(session)
    both = EntryDraft(DAY, "both", disbursement(1).postings, attests=Attestation(*CONTRACT))
    with pytest.raises(InvalidAttestation, match="no postings"):
        repo.append([disbursement(2), both])
    with pytest.raises(LedgerError, match="booking_date"):
        repo.attest(*CONTRACT, datetime(2024, 3, 1, tzinfo=timezone.utc), "a datetime")
    assert repo.head() == (0, GENESIS_HASH)
    entry = repo.attest(*CONTRACT, DAY, "signed")
    with pytest.raises(InvalidAttestation, match="moves no money"):
        repo.reverse(entry.seq, DAY)
    assert repo.verify() == 1


@pytest.mark.parametrize("column, value", [
    ("attests_sha256", "40" * 32),  # another well-formed document hash
    ("attests_sha256", "not a hash"),
    ("attests_ref", "C124"),
    ("attests_kind", "other"),
])
def test_tampering_with_an_attestation_is_detected(engine: Engine, unprotect, column,
                                                   value) -> None:
    with session_factory(engine).begin() as session:
        repo = LedgerRepository(session)
        repo.append([disbursement(1)])
        repo.attest(*CONTRACT, DAY, "contract C123 signed")
        repo.append([disbursement(2)])
    with engine.begin() as conn:
        unprotect(conn, "journal_entries")
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE journal_entries "
                              "DROP CONSTRAINT ck_journal_entries_attests_whole"))
        conn.execute(text(f"UPDATE journal_entries SET {column} = :v WHERE seq = 2"), {"v": value})
    with session_factory(engine)() as session:
        with pytest.raises(TamperDetected, match="entry 2"):
            LedgerRepository(session).verify()


def test_erasing_an_attestation_is_detected(engine: Engine, unprotect) -> None:
    with session_factory(engine).begin() as session:
        LedgerRepository(session).attest(*CONTRACT, DAY, "contract C123 signed")
    with engine.begin() as conn:
        unprotect(conn, "journal_entries")
        conn.execute(text("UPDATE journal_entries SET attests_kind = NULL, attests_ref = NULL, "
                          "attests_sha256 = NULL"))
    with session_factory(engine)() as session:
        with pytest.raises(TamperDetected, match="entry 1"):
            LedgerRepository(session).verify()


@pytest.mark.postgres
def test_postgres_refuses_postings_and_half_attestations(pg_engine: Engine) -> None:
    """Raw SQL cannot add money to an attestation entry, even in the transaction that made it,
    nor store an attestation missing a part or with a malformed hash."""
    with session_factory(pg_engine)() as session:
        LedgerRepository(session).attest(*CONTRACT, DAY, "signed")
        with pytest.raises(IntegrityError, match="entry 1 is an attestation"):
            session.execute(text(
                "INSERT INTO journal_postings (entry_seq, line_no, account, currency, amount) "
                "VALUES (1, 1, '1001', 'CNY', 5), (1, 2, '3001', 'CNY', -5)"))
    insert = text("INSERT INTO journal_entries (seq, booking_date, created_at, description, "
                  "prev_hash, hash, attests_kind, attests_ref, attests_sha256) VALUES "
                  "(1, '2024-03-01', now(), 'raw', :z, :z, 'loan_contract', :ref, :sha)")
    for ref, sha in [(None, "3f" * 32), ("C1", None), ("C1", "3F" * 32)]:
        with pytest.raises(IntegrityError, match="attests_whole"):
            with pg_engine.begin() as conn:
                conn.execute(insert, {"z": GENESIS_HASH, "ref": ref, "sha": sha})
