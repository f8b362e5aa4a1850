"""The journal: balanced entries on known accounts, append-only, hash-chained and tamper-evident."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import (
    IdempotencyConflict, ImmutableEntry, InvalidAttestation, LedgerError, TamperDetected,
    UnbalancedEntry, UnknownAccount, UnknownCurrency, UnknownEntry,
)
from puhui.ledger import (
    CHART, GENESIS_HASH, Acct, Attestation, EntryDraft, Journal, JournalEntry, Posting,
    balances_of, entry_hash, verify_chain,
)
from puhui.ledger.accounts import AccountType, account

D = date(2024, 3, 1)


def draft(*lines: tuple[str, int] | tuple[str, int, str], desc: str = "entry",
          loan_id: str | None = None) -> EntryDraft:
    postings = tuple(Posting(l[0], l[1], l[2] if len(l) > 2 else "CNY", loan_id) for l in lines)
    return EntryDraft(D, desc, postings, loan_id=loan_id)


def sample_journal() -> Journal:
    j = Journal()
    j.post(draft((Acct.CASH, 1_000_000), (Acct.CAPITAL, -1_000_000), desc="funding"))
    j.post(draft((Acct.LOAN_PRINCIPAL, 500_000), (Acct.CASH, -495_000), (Acct.FEE_INCOME, -5_000),
                 desc="disbursement", loan_id="L1"))
    j.post(draft((Acct.INTEREST_RECEIVABLE, 164), (Acct.INTEREST_INCOME, -164),
                 desc="accrual", loan_id="L1"))
    j.post(draft((Acct.CASH, 10_164), (Acct.INTEREST_RECEIVABLE, -164),
                 (Acct.LOAN_PRINCIPAL, -10_000), desc="repayment", loan_id="L1"))
    j.post(draft((Acct.LOAN_PRINCIPAL, 200_000), (Acct.CASH, -200_000), desc="other loan",
                 loan_id="L2"))
    return j


def test_balanced_entries_post_and_balances_add_up():
    j = sample_journal()
    assert [e.seq for e in j.entries] == [1, 2, 3, 4, 5]
    assert j.verify() == 5
    assert j.trial_balance() == {"CNY": 0}
    assert j.balances("L1") == {
        (Acct.LOAN_PRINCIPAL, "CNY"): 490_000, (Acct.CASH, "CNY"): -484_836,
        (Acct.FEE_INCOME, "CNY"): -5_000, (Acct.INTEREST_INCOME, "CNY"): -164}
    assert j.balances("L2") == {(Acct.LOAN_PRINCIPAL, "CNY"): 200_000, (Acct.CASH, "CNY"): -200_000}
    assert j.balances()[(Acct.CASH, "CNY")] == 1_000_000 - 495_000 + 10_164 - 200_000
    assert (Acct.INTEREST_RECEIVABLE, "CNY") not in j.balances()  # zero balances are dropped
    assert j.entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(j.entries, j.entries[1:]))
    assert j.head_hash == j.entries[-1].hash
    assert Journal().head_hash == GENESIS_HASH and Journal().verify() == 0


@pytest.mark.parametrize("lines,error", [
    (((Acct.CASH, 100), (Acct.CAPITAL, -99)), UnbalancedEntry),
    (((Acct.CASH, 100),), UnbalancedEntry),
    ((), UnbalancedEntry),
    (((Acct.CASH, 100), (Acct.CAPITAL, -100), (Acct.FEE_INCOME, 0)), UnbalancedEntry),
    (((Acct.CASH, 0), (Acct.CAPITAL, 0)), UnbalancedEntry),
    (((Acct.CASH, 100.0), (Acct.CAPITAL, -100.0)), UnbalancedEntry),
    (((Acct.CASH, True), (Acct.CAPITAL, -1)), UnbalancedEntry),
    ((("9999", 100), (Acct.CAPITAL, -100)), UnknownAccount),
    ((("1001 ", 100), (Acct.CAPITAL, -100)), UnknownAccount),
    (((Acct.CASH, 100, "XXX"), (Acct.CAPITAL, -100, "XXX")), UnknownCurrency),
    # balanced in total but not per currency
    (((Acct.CASH, 100, "CNY"), (Acct.CAPITAL, -100, "USD")), UnbalancedEntry),
])
def test_bad_entries_are_refused_and_nothing_is_posted(lines, error):
    j = sample_journal()
    head, count = j.head_hash, len(j.entries)
    with pytest.raises(error):
        j.post(draft(*lines))
    with pytest.raises(error):
        j.post_all([draft((Acct.CASH, 1), (Acct.CAPITAL, -1)), draft(*lines)])
    assert len(j.entries) == count and j.head_hash == head  # post_all is all-or-nothing
    assert j.verify() == count


def test_ledger_errors_are_typed():
    for exc in (UnbalancedEntry, UnknownAccount, ImmutableEntry, TamperDetected, UnknownEntry,
                InvalidAttestation):
        assert issubclass(exc, LedgerError)
    with pytest.raises(UnknownAccount):
        account("1234")
    assert account(Acct.LOAN_LOSS).type is AccountType.EXPENSE
    assert CHART[Acct.BORROWER_CREDIT].type is AccountType.LIABILITY
    assert AccountType.ASSET.debit_normal and not AccountType.INCOME.debit_normal


def test_multi_currency_balances_are_kept_apart():
    j = Journal()
    j.post(draft((Acct.CASH, 1_000, "CNY"), (Acct.CAPITAL, -1_000, "CNY"),
                 (Acct.CASH, 300, "USD"), (Acct.CAPITAL, -300, "USD")))
    j.post(draft((Acct.LOAN_PRINCIPAL, 250, "USD"), (Acct.CASH, -250, "USD"), loan_id="U1"))
    j.post(draft((Acct.CASH, 7, "JPY"), (Acct.FEE_INCOME, -7, "JPY")))
    assert j.trial_balance() == {"CNY": 0, "USD": 0, "JPY": 0}
    assert j.balances() == {
        (Acct.CASH, "CNY"): 1_000, (Acct.CAPITAL, "CNY"): -1_000,
        (Acct.CASH, "USD"): 50, (Acct.CAPITAL, "USD"): -300, (Acct.LOAN_PRINCIPAL, "USD"): 250,
        (Acct.CASH, "JPY"): 7, (Acct.FEE_INCOME, "JPY"): -7}
    assert balances_of(j.entries[1].postings, "U1") == {
        (Acct.LOAN_PRINCIPAL, "USD"): 250, (Acct.CASH, "USD"): -250}
    assert balances_of(j.entries[1].postings, "other") == {}


def test_reversal_mirrors_an_entry_once_only():
    j = sample_journal()
    before = j.balances()
    rev = j.reverse(4, date(2024, 3, 5), event_key="bounce-1")
    assert rev.seq == 6 and rev.reverses == 4 and rev.loan_id == "L1"
    assert rev.postings == tuple(p.reversed() for p in j.entries[3].postings)
    assert rev.booking_date == date(2024, 3, 5) and rev.event_key == "bounce-1"
    assert rev.description == "reversal of entry 4"
    after = j.balances("L1")
    assert after[(Acct.LOAN_PRINCIPAL, "CNY")] == 500_000
    assert after[(Acct.INTEREST_RECEIVABLE, "CNY")] == 164
    assert j.balances()[(Acct.CASH, "CNY")] == before[(Acct.CASH, "CNY")] - 10_164
    with pytest.raises(ImmutableEntry):
        j.reverse(4, date(2024, 3, 6))
    assert len(j.entries) == 6
    assert j.verify() == 6 and j.trial_balance() == {"CNY": 0}
    # a reversal is itself an entry, and can be reversed (once)
    j.reverse(6, date(2024, 3, 7))
    assert j.balances("L1")[(Acct.LOAN_PRINCIPAL, "CNY")] == 490_000
    with pytest.raises(ImmutableEntry):
        j.reverse(6, date(2024, 3, 8))


def test_posted_entries_cannot_be_changed_in_place():
    j = sample_journal()
    entry = j.entries[1]
    with pytest.raises(AttributeError):
        entry.description = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.postings[0].amount = 1  # type: ignore[misc]
    assert isinstance(j.entries, tuple)  # a copy: appending to it cannot touch the journal
    with pytest.raises(AttributeError):
        j.entries.append(entry)  # type: ignore[attr-defined]


# -- tamper detection -------------------------------------------------------------------------
def altered(entry: JournalEntry, **changes) -> JournalEntry:
    return entry._replace(**changes)


def rehash(entry: JournalEntry, prev_hash: str) -> JournalEntry:
    """What a forger would do: relink an entry and recompute its own hash."""
    e = altered(entry, prev_hash=prev_hash, hash="")
    return altered(e, hash=entry_hash(prev_hash, e.payload()))


def test_untampered_chain_verifies():
    entries = list(sample_journal().entries)
    assert verify_chain(entries) == 5
    assert verify_chain(entries[2:], entries[1].hash) == 3  # a verified suffix from a checkpoint


def test_altering_an_amount_is_detected():
    entries = list(sample_journal().entries)
    e = entries[3]
    forged = tuple(Posting(p.account, p.amount * 2, p.currency, p.loan_id) for p in e.postings)
    entries[3] = altered(e, postings=forged)  # still balanced, hash not updated
    with pytest.raises(TamperDetected, match="entry 4"):
        verify_chain(entries)


def test_altering_an_amount_and_rehashing_it_breaks_the_next_link():
    entries = list(sample_journal().entries)
    e = entries[1]
    forged = (Posting(Acct.LOAN_PRINCIPAL, 400_000, "CNY", "L1"),
              Posting(Acct.CASH, -395_000, "CNY", "L1"),
              Posting(Acct.FEE_INCOME, -5_000, "CNY", "L1"))
    entries[1] = rehash(altered(e, postings=forged), e.prev_hash)
    with pytest.raises(TamperDetected, match="entry 3"):
        verify_chain(entries)


@pytest.mark.parametrize("field,value", [
    ("description", "nothing to see"), ("booking_date", date(2024, 2, 1)), ("loan_id", "L9"),
    ("event_key", "forged"), ("reverses", 1),
    ("created_at", datetime(2020, 1, 1, tzinfo=timezone.utc)),
])
def test_altering_any_hashed_field_is_detected(field, value):
    entries = list(sample_journal().entries)
    entries[2] = altered(entries[2], **{field: value})
    with pytest.raises(TamperDetected):
        verify_chain(entries)


@pytest.mark.parametrize("index", [0, 2, 3])
def test_deleting_an_entry_is_detected(index):
    entries = list(sample_journal().entries)
    del entries[index]
    with pytest.raises(TamperDetected):
        verify_chain(entries)


def test_deleting_an_entry_and_renumbering_the_rest_is_detected():
    entries = list(sample_journal().entries)
    del entries[2]
    renumbered = [altered(e, seq=k + 1) for k, e in enumerate(entries)]
    with pytest.raises(TamperDetected):
        verify_chain(renumbered)


def test_reordering_entries_is_detected():
    entries = list(sample_journal().entries)
    entries[2], entries[3] = entries[3], entries[2]
    with pytest.raises(TamperDetected):
        verify_chain(entries)
    # even with the sequence numbers swapped back
    swapped = list(sample_journal().entries)
    a, b = swapped[2], swapped[3]
    swapped[2], swapped[3] = altered(b, seq=3), altered(a, seq=4)
    with pytest.raises(TamperDetected):
        verify_chain(swapped)


def test_an_unbalanced_entry_in_a_fully_rehashed_chain_is_detected():
    entries = list(sample_journal().entries)
    e = entries[2]
    entries[2] = altered(e, postings=(Posting(Acct.INTEREST_RECEIVABLE, 164, "CNY", "L1"),
                                      Posting(Acct.INTEREST_INCOME, -100, "CNY", "L1")))
    prev, forged = GENESIS_HASH, []
    for entry in entries:  # the forger recomputes every hash from the genesis onwards
        forged.append(rehash(entry, prev))
        prev = forged[-1].hash
    with pytest.raises(TamperDetected, match="no longer balances"):
        verify_chain(forged)


def test_tampering_inside_a_journal_is_detected_by_verify():
    j = sample_journal()
    j._entries[1] = altered(j._entries[1], description="edited")  # simulate storage tampering
    with pytest.raises(TamperDetected):
        j.verify()


def test_hash_is_deterministic_and_covers_the_predecessor():
    e = sample_journal().entries[0]
    assert entry_hash(GENESIS_HASH, e.payload()) == e.hash
    assert entry_hash("f" * 64, e.payload()) != e.hash
    assert len(e.hash) == 64 and int(e.hash, 16) >= 0


def test_truncating_the_tail_is_only_visible_against_a_remembered_head_hash():
    # a hash chain alone cannot tell a truncated journal from a shorter one: the durable store
    # must anchor the head hash (or the entry count) somewhere the truncation cannot reach
    j = sample_journal()
    entries = list(j.entries)
    assert verify_chain(entries[:-1]) == 4
    assert entries[-2].hash != j.head_hash


# regression: reverse() once indexed self._entries[seq - 1] unchecked, so seq 0 or -1 silently
# reversed the last entries under a bogus `reverses` (letting the real one be reversed twice)
@pytest.mark.parametrize("seq", [0, -1, 6, 99, True, "1", 1.0])
def test_reversing_an_entry_that_does_not_exist_is_refused(seq):
    j = sample_journal()
    head, count = j.head_hash, len(j.entries)
    with pytest.raises(UnknownEntry):
        j.reverse(seq, date(2024, 3, 5))  # type: ignore[arg-type]
    assert len(j.entries) == count and j.head_hash == head
    j.reverse(5, date(2024, 3, 5))  # the last entry is still reversible, once
    with pytest.raises(ImmutableEntry):
        j.reverse(5, date(2024, 3, 6))


postings_strategy = st.lists(
    st.tuples(st.sampled_from(sorted(CHART)), st.integers(1, 10**15),
              st.sampled_from(["CNY", "USD", "JPY"])), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.one_of(st.none(), st.text(min_size=1, max_size=20)),
                          st.one_of(st.none(), st.text(min_size=1, max_size=12)), postings_strategy,
                          st.dates(date(1990, 1, 1), date(2090, 1, 1))),
                min_size=1, max_size=6))
def test_sealed_hashes_are_the_canonical_json_hash_for_any_content(entries):
    j = Journal()
    for desc, key, loan_id, lines, booked in entries:
        postings = []
        for acct, amount, cur in lines:  # each line is balanced by its mirror on capital
            postings += [Posting(acct, amount, cur, loan_id), Posting(Acct.CAPITAL, -amount, cur, loan_id)]
        j.post(EntryDraft(booked, desc, tuple(postings), key, loan_id))
    prev = GENESIS_HASH
    for e in j.entries:
        assert e.hash == entry_hash(prev, e.payload())
        prev = e.hash
    assert j.verify() == len(entries)
    assert all(v == 0 for v in j.trial_balance().values())


# -- attestations -----------------------------------------------------------------------------
CONTRACT_HASH = "3f" * 32


def test_an_attestation_records_a_document_hash_without_moving_money():
    j = sample_journal()
    before = (j.balances(), j.balances("L1"), j.trial_balance())
    entry = j.attest("loan_contract", "C123", CONTRACT_HASH, D, "contract C123 signed",
                     event_key="sign:C123")
    assert (entry.seq, entry.postings, entry.prev_hash) == (6, (), j.entries[4].hash)
    assert entry.attests == Attestation("loan_contract", "C123", CONTRACT_HASH)
    assert entry.payload()["attests"] == {"kind": "loan_contract", "id": "C123",
                                          "sha256": CONTRACT_HASH}
    assert entry.hash == entry_hash(entry.prev_hash, entry.payload())
    assert (j.balances(), j.balances("L1"), j.trial_balance()) == before
    assert j.attestation("loan_contract", "C123") == entry
    assert j.attestation("loan_contract", "C999") is None
    assert j.attestation("other_kind", "C123") is None
    j.post(draft((Acct.CASH, 1), (Acct.CAPITAL, -1)))  # money entries chain on after it
    assert j.verify() == 7


def test_the_latest_attestation_of_a_document_wins():
    j = Journal()
    first = j.attest("loan_contract", "C1", "0" * 64, D, "signed")
    j.attest("loan_contract", "C2", "1" * 64, D, "another contract")
    amended = j.attest("loan_contract", "C1", "2" * 64, D, "amendment signed")
    assert j.attestation("loan_contract", "C1") == amended != first
    assert j.verify() == 3


def test_re_attesting_with_the_same_key_is_idempotent():
    j = Journal()
    entry = j.attest("loan_contract", "C1", CONTRACT_HASH, D, "signed", event_key="sign:C1")
    assert j.attest("loan_contract", "C1", CONTRACT_HASH, D, "signed", event_key="sign:C1") == entry
    assert len(j.entries) == 1
    for other in [("loan_contract", "C1", "e" * 64, D, "signed"),
                  ("loan_contract", "C2", CONTRACT_HASH, D, "signed"),
                  ("loan_contract", "C1", CONTRACT_HASH, date(2024, 3, 2), "signed")]:
        with pytest.raises(IdempotencyConflict, match="sign:C1"):
            j.attest(*other, event_key="sign:C1")
    j.post(EntryDraft(D, "funding", (Posting(Acct.CASH, 5), Posting(Acct.CAPITAL, -5)), "fund"))
    with pytest.raises(IdempotencyConflict, match="fund"):  # a money entry's key is taken too
        j.attest("loan_contract", "C1", CONTRACT_HASH, D, "funding", event_key="fund")
    assert len(j.entries) == 2 and j.verify() == 2


@pytest.mark.parametrize("kind, ref, sha256", [
    ("loan_contract", "C1", "3F" * 32),             # upper case
    ("loan_contract", "C1", "3f" * 31),             # too short
    ("loan_contract", "C1", "3f" * 32 + "0"),       # too long
    ("loan_contract", "C1", "g" * 64),              # not hex
    ("loan_contract", "C1", " " + "3f" * 31 + "3"),
    ("loan_contract", "C1", None),
    ("", "C1", CONTRACT_HASH),
    ("k" * 65, "C1", CONTRACT_HASH),
    ("loan_contract", "", CONTRACT_HASH),
    ("loan_contract", "r" * 201, CONTRACT_HASH),
    (7, "C1", CONTRACT_HASH),
])
def test_malformed_attestations_are_refused(kind, ref, sha256):
    j = sample_journal()
    with pytest.raises(InvalidAttestation):
        j.attest(kind, ref, sha256, D, "bad")
    with pytest.raises(InvalidAttestation):
        j.post(EntryDraft(D, "bad", (), attests=Attestation(kind, ref, sha256)))
    assert len(j.entries) == 5
    Attestation("k" * 64, "r" * 200, CONTRACT_HASH).validate()  # the limits themselves are fine


def test_an_entry_either_moves_money_or_attests():
    j = sample_journal()
    attests = Attestation("loan_contract", "C1", CONTRACT_HASH)
    money = (Posting(Acct.CASH, 5), Posting(Acct.CAPITAL, -5))
    with pytest.raises(InvalidAttestation, match="no postings"):
        j.post(EntryDraft(D, "both", money, attests=attests))
    with pytest.raises(InvalidAttestation, match="reverse"):
        j.post(EntryDraft(D, "reversing", (), reverses=1, attests=attests))
    with pytest.raises(InvalidAttestation):
        j.post(EntryDraft(D, "not one", (), attests={"kind": "loan_contract"}))  # type: ignore
    with pytest.raises(UnbalancedEntry):
        j.post(EntryDraft(D, "neither", ()))
    with pytest.raises(InvalidAttestation):  # all-or-nothing with money entries too
        j.post_all([EntryDraft(D, "ok", money), EntryDraft(D, "both", money, attests=attests)])
    assert len(j.entries) == 5
    entry = j.attest("loan_contract", "C1", CONTRACT_HASH, D, "signed")
    with pytest.raises(InvalidAttestation, match="moves no money"):
        j.reverse(entry.seq, D)
    assert j.verify() == 6


@pytest.mark.parametrize("forged", [
    Attestation("loan_contract", "C123", "40" * 32),   # another document hash
    Attestation("loan_contract", "C124", CONTRACT_HASH),
    Attestation("other", "C123", CONTRACT_HASH),
    None,                                              # the attestation removed
])
def test_tampering_with_an_attestation_is_detected(forged):
    j = sample_journal()
    j.attest("loan_contract", "C123", CONTRACT_HASH, D, "contract C123 signed")
    j.post(draft((Acct.CASH, 1), (Acct.CAPITAL, -1)))
    entries = list(j.entries)
    entries[5] = altered(entries[5], attests=forged)
    with pytest.raises(TamperDetected, match="entry 6"):
        verify_chain(entries)
    # a forger who re-hashes it breaks the next link (or, erasing it, leaves an empty entry)
    entries[5] = rehash(entries[5], entries[4].hash)
    with pytest.raises(TamperDetected, match="entry 7" if forged else "entry 6 no longer"):
        verify_chain(entries)


def test_an_attestation_forged_into_an_invalid_one_is_detected():
    j = sample_journal()
    j.attest("loan_contract", "C123", CONTRACT_HASH, D, "contract C123 signed")
    entries = list(j.entries)
    entries[5] = rehash(altered(entries[5], attests=Attestation("loan_contract", "C123", "X")),
                        entries[4].hash)
    with pytest.raises(TamperDetected, match="no longer a valid attestation"):
        verify_chain(entries)
    entries[5] = rehash(altered(entries[5], attests=None), entries[4].hash)  # neither kind
    with pytest.raises(TamperDetected, match="no longer balances"):
        verify_chain(entries)
    money = list(sample_journal().entries)
    money[1] = rehash(altered(money[1], attests=Attestation("loan_contract", "C1", CONTRACT_HASH)),
                      money[0].hash)  # postings and an attestation
    with pytest.raises(TamperDetected, match="entry 2 is no longer a valid attestation"):
        verify_chain(money[:2])
