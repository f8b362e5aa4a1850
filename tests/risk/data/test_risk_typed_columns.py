"""Typed columns (`risk.data.typed`) and their stored form (`merged_state`): whatever the values,
reading them back gives the same values, merging later values into a column gives what merging
the lists gives, and the arrays the reducers read (days, ints, codes, among) say what the
lists say."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.risk.data import merged_state as ms
from puhui.risk.data.typed import TypedColumn
from puhui.risk.errors import PayloadTampered, RiskDataError

DAYS = st.dates(date(1, 1, 1), date(9999, 12, 31))
UTC_TIMES = st.datetimes(datetime(1900, 1, 1), datetime(2300, 1, 1)).map(
    lambda t: t.replace(tzinfo=timezone.utc))
HEX = st.integers(16, 64).flatmap(lambda w: st.text("0123456789abcdef", min_size=w, max_size=w))
WORDS = st.sampled_from(["pos", "ecommerce", "vat", "income_tax", "electricity", "water"])
TEXT = st.text(max_size=12)  # anything: non-ASCII, NULs, empty
#: one kind of value per column, as a validated payload holds them
COLUMNS = st.one_of(
    st.lists(st.integers(-2**63, 2**63 - 1), max_size=30),
    st.lists(st.integers(-2**70, 2**70), max_size=8),  # beyond int64: kept as a list
    st.lists(st.booleans(), max_size=30),
    st.lists(st.one_of(st.none(), DAYS), max_size=30).filter(lambda v: any(v)),
    st.lists(UTC_TIMES, max_size=30),
    st.lists(HEX, max_size=30),
    st.integers(16, 64).flatmap(lambda w: st.lists(  # many hashes of one width: fixed-width
        st.text("0123456789abcdef", min_size=w, max_size=w), min_size=17, max_size=40,
        unique=True)),
    st.lists(WORDS, max_size=30),
    st.lists(TEXT, max_size=30),
)


def _stored(column: TypedColumn) -> TypedColumn:
    kind, extra, buf = ms._encode_column(column)
    return ms._decode_column(kind, extra, buf, len(column))


def _partition(codes: np.ndarray) -> list[int]:
    """Codes in a canonical form: each record's first record with the same code."""
    first: dict[int, int] = {}
    return [first.setdefault(c, i) for i, c in enumerate(codes.tolist())]


def _same_answers(typed: TypedColumn, values: list) -> None:
    listed = TypedColumn("L", list(values))
    assert typed.to_list() == values and len(typed) == len(values)
    assert [type(v) for v in typed.to_list()] == [type(v) for v in values]
    assert _partition(typed.codes()) == _partition(listed.codes())
    codes = typed.codes()
    assert len(codes) == 0 or (codes.min() >= 0 and codes.max() < len(values))
    kinds = set(map(type, values))
    if kinds <= {date, type(None), datetime}:
        assert typed.days().tolist() == listed.days().tolist()
    if kinds == {int} and all(-2**63 <= v < 2**63 for v in values):
        assert typed.ints().tolist() == values
    if kinds <= {str}:
        wanted = {"pos", "vat", values[0] if values else ""}
        assert typed.among(wanted).tolist() == [v in wanted for v in values]


@settings(max_examples=200, deadline=None)
@given(COLUMNS)
def test_a_column_reads_back_its_values_in_every_form(values) -> None:
    typed = TypedColumn.of(values)
    _same_answers(typed, values)
    _same_answers(_stored(typed), values)


@settings(max_examples=200, deadline=None)
@given(st.data(), COLUMNS)
def test_merging_later_values_is_merging_the_lists(data, values) -> None:
    """Replacements at some positions, then new values, of the same kind as the column's
    (another width of hex, a new word, a None date): the list merge, in every form."""
    more = data.draw(COLUMNS.filter(lambda v: len({type(x) for x in v + values} - {type(None)})
                                    <= 1))
    positions = data.draw(st.lists(st.integers(0, max(0, len(values) - 1)), unique=True,
                                   max_size=min(len(values), len(more))))
    replaced, added = more[:len(positions)], more[len(positions):]
    want = list(values)
    for i, v in zip(positions, replaced):
        want[i] = v
    want += added
    for base in (TypedColumn.of(values), _stored(TypedColumn.of(values))):
        got = base.merged(positions, replaced, added)
        _same_answers(got, want)
        _same_answers(_stored(got), want)
        assert base.to_list() == values  # nothing changed in place


@settings(max_examples=100, deadline=None)
@given(COLUMNS, st.data())
def test_taking_records_keeps_their_values(values, data) -> None:
    index = np.array(data.draw(st.lists(st.integers(0, max(0, len(values) - 1)),
                                        max_size=len(values), unique=True)), dtype=np.int64)
    for base in (TypedColumn.of(values), _stored(TypedColumn.of(values))):
        _same_answers(base.take(index), [values[i] for i in index.tolist()])


def test_the_tight_forms_are_used_where_the_values_allow() -> None:
    hashes = [f"{i:064x}" for i in range(40)]
    assert TypedColumn.of(hashes).kind == "f"
    assert TypedColumn.of(["pos", "ecommerce"] * 20).kind == "u"
    assert TypedColumn.of([f"O{i}" for i in range(40)]).kind == "s"  # ids: split when read
    assert TypedColumn.of([date(2026, 1, 1), None]).kind == "d"
    assert TypedColumn.of([datetime(2026, 1, 1, tzinfo=timezone.utc)]).kind == "t"
    assert TypedColumn.of([2**64]).kind == "L"
    # a wider hash merged into a column of narrower ones widens it, and reads back the same
    wider = TypedColumn.of(hashes[:20]).merged([], [], ["ab" * 40])
    assert wider.kind == "f" and wider.to_list() == hashes[:20] + ["ab" * 40]


def test_a_timestamp_counts_on_its_utc_day() -> None:
    late = datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    early = datetime(1960, 1, 1, 0, 0, tzinfo=timezone.utc)
    column = TypedColumn.of([late, early])
    assert column.days().tolist() == [date(2026, 3, 31).toordinal(), date(1960, 1, 1).toordinal()]
    assert _stored(column).to_list() == [late, early]


def test_an_amount_beyond_int64_is_refused_as_an_array() -> None:
    with pytest.raises(RiskDataError):
        TypedColumn.of([1, 2**63]).ints()


@pytest.mark.parametrize("kind,extra,buf,n", [
    ("u", ["pos"], np.array([0, 3], dtype=np.uint16).tobytes(), 2),  # a code beyond the words
    ("u", None, np.array([0], dtype=np.uint16).tobytes(), 1),
    ("F", 0, b"", 0),
    ("o", None, np.array([-5], dtype=np.int64).tobytes(), 1),
    ("s", None, b"a\x00b", 3),
    ("?", None, b"", 0),
])
def test_a_damaged_column_is_refused(kind, extra, buf, n) -> None:
    with pytest.raises(PayloadTampered):
        ms._decode_column(kind, extra, buf, n)


def test_hashes_that_mix_to_one_number_are_still_told_apart(monkeypatch) -> None:
    """The fixed-width codes group by a 64-bit mix of the text, checked exactly: with a mix
    that sends everything to one number, the check sees it and the text itself is sorted."""
    from puhui.risk.data import typed

    values = [f"{i % 25:064x}" for i in range(80)]
    monkeypatch.setattr(typed, "_MIX", np.uint64(0))
    column = TypedColumn.of(values)
    assert column.kind == "f" and typed._text_codes(column.data) is None
    assert _partition(column.codes()) == [i % 25 for i in range(80)]
