"""The fast canonical encoder must be byte-identical to json.dumps, or old hashes stop verifying."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.ledger.journal import GENESIS_HASH, EntryDraft, Posting, canonical_body, entry_hash, seal

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
