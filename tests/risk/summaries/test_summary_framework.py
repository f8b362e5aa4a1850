"""The summaries' frame (`puhui.risk.summaries`): the key filter never forgets a key, the stored
form round-trips and refuses damage, and an extension that could replace a summarised record is
refused rather than added."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import summaries as sm
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import parse_payload
from puhui.risk.errors import PayloadTampered, RiskDataError

KEYS = st.lists(st.integers(0, 2 ** 64 - 1), max_size=300, unique=True)


@settings(max_examples=60, deadline=None)
@given(KEYS, KEYS)
def test_the_filter_holds_every_key_put_in(first, later) -> None:
    f = sm.KeyFilter.of(np.array(first, np.uint64))
    for k in first:
        assert f.might_hold(np.array([k], np.uint64))
    g = f.with_keys(np.array(later, np.uint64))
    for k in first + later:
        assert g.might_hold(np.array([k], np.uint64))
    assert g.count == len(first) + len(later)
    assert list(g.prints) == sorted(g.prints)
    assert not sm.KeyFilter.of(np.zeros(0, np.uint64)).might_hold(np.array([1], np.uint64))
    # a key whose fingerprint is not held is certainly new
    for k in later:
        if (k >> 32) not in {x >> 32 for x in first}:
            assert not f.might_hold(np.array([k], np.uint64))


def test_the_filter_rarely_holds_a_key_never_put_in() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2 ** 63, 3_000, dtype=np.int64).astype(np.uint64)
    f = sm.KeyFilter.of(keys)
    others = rng.integers(0, 2 ** 63, 5_000, dtype=np.int64).astype(np.uint64)
    assert not f.might_hold(others)  # one in about 2^32 / 3,000 per key


def _summary() -> sm.Summary:
    return sm.Summary(DataScope.SALES, {"months": np.array([24_300, 24_301], np.int64),
                                        "wide": np.array([-2 ** 40, 2 ** 62], np.int64),
                                        "edges": np.array([-2 ** 31, 2 ** 31 - 1], np.int64),
                                        "flags": np.array([True, False]),
                                        "ids": np.array([5, 2 ** 64 - 1], np.uint64),
                                        "small": np.array([1, -2], np.int32)},
                      sm.KeyFilter.of(np.array([1 << 40, 2 << 40, 3 << 40], np.uint64)), 3)


def test_the_stored_form_round_trips() -> None:
    s = _summary()
    back = sm.decode(sm.encode(s))
    assert back.scope is s.scope and back.records == 3
    assert back.keys.count == 3 and np.array_equal(back.keys.prints, s.keys.prints)
    assert list(back.body) == list(s.body)
    for name, array in s.body.items():
        assert back.body[name].dtype == array.dtype and np.array_equal(back.body[name], array)


@pytest.mark.parametrize("damage", [
    lambda b: b"XXXX" + b[4:], lambda b: b[:10], lambda b: b[:-3],
    lambda b: b[:9] + b"#" + b[10:], lambda b: b[:-8],
    lambda b: b[:-8] + b[-4:] + b[-8:-4]])  # the last two fingerprints swapped
def test_damaged_bytes_are_refused(damage) -> None:
    with pytest.raises(PayloadTampered):
        sm.decode(damage(sm.encode(_summary())))


def test_a_summary_of_other_rules_is_not_read() -> None:
    data = sm.encode(_summary()).replace(f'"v":{sm.VERSION}'.encode(), b'"v":0')
    assert sm.decode(data) is None


def _orders(ids: list[str], day: str = "2026-10-03") -> tuple:
    records = [{"order_id": i, "ordered_on": day, "channel": "pos", "amount_fen": 1_000,
                "customer_hash": "a" * 64, "refunded": False} for i in ids]
    data = parse_payload(DataScope.SALES, {"business_id": "B", "as_of": "2026-12-01",
                                           "records": records})
    return data, ms.key_digests(DataScope.SALES, records)


def test_an_extension_that_may_replace_a_record_is_refused() -> None:
    base, keys = _orders(["o1", "o2", "o3"])
    s = sm.summarise(base, keys)
    assert s is not None and s.records == 3
    again, again_keys = _orders(["o2"])  # a record of the summary delivered anew
    assert sm.extended(s, again, again_keys) is None
    twice, twice_keys = _orders(["o9", "o9"])  # the same key twice: not distinct
    assert sm.extended(s, twice, twice_keys) is None
    new, new_keys = _orders(["o4", "o5"])
    grown = sm.extended(s, new, new_keys)
    assert grown is not None and grown.records == 5
    assert grown.keys.might_hold(new_keys[:1]) and not s.keys.might_hold(new_keys[:1])
    assert sm.extended(s, *_orders([])) is s
    with pytest.raises(RiskDataError):
        sm.extended(s, new, new_keys[:1])
    assert sm.panel_of(grown, date(2026, 12, 7), 2026 * 12 + 11) is not None


def test_a_chunk_refuses_exactly_the_extensions_one_at_a_time_refuses() -> None:
    """`panels_many` checks every business's keys at once: a record of its own summary
    delivered anew or a key twice refuses that business alone, and a key of *another*
    business's summary refuses nobody (the businesses' keys are kept apart)."""
    base, keys = _orders(["o1", "o2", "o3"])
    other, other_keys = _orders(["p1", "p2"])
    s, t = sm.summarise(base, keys), sm.summarise(other, other_keys)
    tails = [_orders(["o2"]), _orders(["p1"]), _orders(["o9", "o9"]), _orders(["o4"]),
             _orders([]), _orders(["o1", "o7"])]
    owners = [s, s, t, t, s, t]  # the second: a key of the other summary, new to its own
    as_of = date(2026, 12, 7)
    got = sm.panels_many(DataScope.SALES, owners, tails, as_of, 2026 * 12 + 11)
    alone = [sm.extended(o, *tail) is not None for o, tail in zip(owners, tails)]
    assert got.ok.tolist() == alone == [False, True, False, True, True, True]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 30), max_size=6, unique=True),
                          st.lists(st.integers(0, 30), max_size=4)), max_size=6))
def test_the_chunk_key_check_is_extended_s(businesses) -> None:
    owners, tails = [], []
    for held, added in businesses:
        base, keys = _orders([f"o{i}" for i in held])
        owners.append(sm.summarise(base, keys))
        tails.append(_orders([f"o{i}" for i in added]))
    got = sm.panels_many(DataScope.SALES, owners, tails, date(2026, 12, 7), 2026 * 12 + 11)
    assert got.ok.tolist() == [sm.extended(o, *t) is not None for o, t in zip(owners, tails)]


def test_small_sources_are_not_summarised() -> None:
    data = parse_payload(DataScope.UTILITY, {"business_id": "B", "as_of": "2026-12-01",
                                             "records": []})
    assert sm.summarise(data, np.zeros(0, np.uint64)) is None


TEXTS = st.lists(st.one_of(st.text(min_size=0, max_size=20),
                           st.text("0123456789abcdef", min_size=8, max_size=8),
                           st.text("0123456789abcdef", min_size=16, max_size=16),
                           st.text("0123456789abcdef", min_size=64, max_size=64)),
                 min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(TEXTS)
def test_a_text_digests_the_same_whatever_else_its_column_holds(values) -> None:
    from puhui.risk.data.typed import TypedColumn
    from puhui.risk.summaries._digest import text_digests

    alone = [int(text_digests(TypedColumn("L", [v]))[0]) for v in values]
    for column in (TypedColumn("L", values), TypedColumn.of(values),
                   TypedColumn.of(values * 5)):
        found = text_digests(column).tolist()
        assert found == (alone if len(found) == len(values) else alone * 5)


def test_a_fixed_width_column_holding_a_shorter_text_digests_it_as_alone() -> None:
    from puhui.risk.data.typed import TypedColumn
    from puhui.risk.summaries._digest import text_digests

    padded = TypedColumn("f", np.array(["a" * 16, "b" * 8], dtype="S16"))  # b.. padded
    listed = ["%064x" % i for i in range(100)]  # many hashes as a list: read by NumPy
    for column, values in ((padded, ["a" * 16, "b" * 8]), (TypedColumn("L", listed), listed)):
        alone = [int(text_digests(TypedColumn("L", [v]))[0]) for v in values]
        assert text_digests(column).tolist() == alone
