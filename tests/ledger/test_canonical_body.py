"""The fast canonical encoder must be byte-identical to json.dumps, or old hashes stop verifying."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.ledger.journal import (
    GENESIS_HASH,
    Attestation,
    EntryDraft,
    Posting,
    canonical_body,
    entry_hash,
    seal,
    seal_all,
)

text = st.text(max_size=30)  # any unicode: quotes, backslashes, control characters, CJK


@settings(max_examples=300, deadline=None)
@given(description=text, event_key=st.none() | text, loan_id=st.none() | text,
       reverses=st.none() | st.integers(1, 10**9), amount=st.integers(1, 10**15),
       seq=st.integers(1, 10**12), day=st.dates(date(2000, 1, 1), date(2100, 1, 1)),
       micro=st.integers(0, 999_999))
def test_canonical_body_equals_sorted_json(description, event_key, loan_id, reverses, amount, seq,
                                           day, micro) -> None:
    draft = EntryDraft(day, description, (Posting("1001", amount, "CNY", loan_id),
                                          Posting("1301", -amount, "CNY", loan_id)),
                       event_key, loan_id, reverses)
    entry = seal(draft, seq, GENESIS_HASH, datetime(2026, 1, 2, 3, 4, 5, micro, tzinfo=timezone.utc))
    expected = json.dumps(entry.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_body(entry) == expected
    assert entry.hash == entry_hash(GENESIS_HASH, entry.payload())


@settings(max_examples=100, deadline=None)
@given(drafts=st.lists(st.tuples(text, st.none() | text, st.dates(date(2000, 1, 1)),
                                 st.integers(1, 10**15)), min_size=1, max_size=8),
       seq=st.integers(1, 10**12))
def test_sealing_a_batch_equals_sealing_one_at_a_time(drafts, seq) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    batch = [EntryDraft(day, description, (Posting("1001", amount, "CNY", loan_id),
                                           Posting("1301", -amount, "CNY", loan_id)), None, loan_id)
             for description, loan_id, day, amount in drafts]
    prev, one_by_one = GENESIS_HASH, []
    for n, draft in enumerate(batch):
        one_by_one.append(seal(draft, seq + n, prev, when))
        prev = one_by_one[-1].hash
    assert seal_all(batch, seq, GENESIS_HASH, when) == one_by_one
    assert all(e.hash == entry_hash(e.prev_hash, e.payload()) for e in one_by_one)


@settings(max_examples=200, deadline=None)
@given(kind=st.text(min_size=1, max_size=64), ref=st.text(min_size=1, max_size=200),
       sha256=st.text("0123456789abcdef", min_size=64, max_size=64), description=text,
       event_key=st.none() | text, loan_id=st.none() | text, seq=st.integers(1, 10**12))
def test_canonical_body_of_an_attestation_equals_sorted_json(kind, ref, sha256, description,
                                                             event_key, loan_id, seq) -> None:
    draft = EntryDraft(date(2024, 3, 1), description, (), event_key, loan_id,
                       attests=Attestation(kind, ref, sha256))
    entry = seal(draft, seq, GENESIS_HASH, datetime(2026, 1, 2, tzinfo=timezone.utc))
    expected = json.dumps(entry.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_body(entry) == expected
    assert expected.startswith('{"attests":{"id":') and '"postings":[]' in expected
    assert entry.payload()["attests"] == {"kind": kind, "id": ref, "sha256": sha256}
    assert entry.hash == entry_hash(GENESIS_HASH, entry.payload())


def test_entries_without_an_attestation_hash_as_they_always_have() -> None:
    """Pinned hashes, computed before attestations existed: no "attests" key, not even null."""
    first = seal(EntryDraft(date(2024, 3, 1), '放款 disbursement "L1"', (
        Posting("1301", 500_000, "CNY", "L1"), Posting("1001", -500_000, "CNY", "L1")),
        "disb:L1", "L1"), 7, "ab" * 32, datetime(2024, 3, 1, 9, 30, 0, 123456, tzinfo=timezone.utc))
    assert first.hash == "e0b4e5a7d12ba72915390cd7d90f43e38d24fe1a77c9cfee6d84c542afa926bc"
    second = seal(EntryDraft(date(2024, 3, 2), "reversal of entry 7", (
        Posting("1301", -500_000, "CNY", "L1"), Posting("1001", 500_000, "CNY", "L1")),
        None, "L1", 7), 8, first.hash, datetime(2024, 3, 2, tzinfo=timezone.utc))
    assert second.hash == "03ea9c832aea3503ca7c2865e919404c2930df8d40a1cdbd3bfd703ce5b460d4"
    assert "attests" not in first.payload() and "attests" not in canonical_body(second)
