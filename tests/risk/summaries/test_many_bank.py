"""`bank.panel_many` equals the per-business `extend` then `panel`, stacked (`stacked.stack`):
for lists of businesses with random bodies (built, or built and extended) and tails, in the
parsed and typed forms, for as_of before, inside and after the lines; with refusals (a value
beyond int64, totals that could overflow on the merged count, a None body) between fine ones;
empty bodies, empty tails, no businesses; and a few hundred random businesses of many lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import many_samples
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from summary_samples import PAYLOAD_AS_OF, SPAN, day, forms
from test_summary_bank import AS_OF_BACK, HASHES, ONE_MONTH, _split, bank_lines

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.panel import month_index
from puhui.risk.stacked import Stacked
from puhui.risk.summaries import bank

SCOPE = DataScope.BANK_STATEMENT


def reference(bodies: Sequence[bank.Body | None], added: Sequence[SourceData], as_of: date,
              top: int) -> Stacked:
    """The contract, one business at a time."""
    return many_samples.reference(bank, bodies, added, as_of, top)


def check(bodies: list, added: list, as_of: date) -> Stacked:
    """`panel_many` equals the reference and leaves the bodies as they were."""
    return many_samples.check_many(bank, bodies, added, as_of, month_index(as_of))


def business(records: list[dict], cut: int, mid: int, base_form: int, mid_form: int,
             tail_form: int) -> tuple[bank.Body | None, SourceData]:
    """A body of the first `cut` lines (extended with the next ones up to `mid`, as a stored
    summary is) and the rest as the tail (keys new to the body)."""
    head, rest = _split(records, cut)
    middle, tail = rest[:max(0, mid - cut)], rest[max(0, mid - cut):]
    body = bank.build(forms(SCOPE, head)[base_form])
    if body is not None and middle:
        body = bank.extend(body, forms(SCOPE, middle)[mid_form])
    return body, forms(SCOPE, tail)[tail_form]


@st.composite
def businesses(draw, lines: st.SearchStrategy, most: int = 30):
    records = draw(st.lists(lines, max_size=most))
    cut = draw(st.integers(0, len(records)))
    mid = draw(st.integers(cut, len(records)))
    forms_ = draw(st.tuples(*[st.integers(0, 1)] * 3))
    return business(records, cut, mid, *forms_)


def _run(many: list, back: int) -> None:
    bodies = [b for b, _ in many]
    added = [a for _, a in many]
    check(bodies, added, PAYLOAD_AS_OF - timedelta(days=back))


@settings(max_examples=150, deadline=None)
@given(st.lists(businesses(bank_lines()), max_size=8), AS_OF_BACK)
def test_panel_many_is_the_per_business_panel(many, back) -> None:
    _run(many, back)


@settings(max_examples=100, deadline=None)
@given(st.lists(businesses(bank_lines(days=ONE_MONTH), most=10), max_size=8),
       st.sampled_from([0, 19, 20, 21, 50, 51, 52, 90]))
def test_panel_many_within_a_month_round_trips_and_closes(many, back) -> None:
    _run(many, back)


@settings(max_examples=60, deadline=None)
@given(st.lists(businesses(bank_lines(huge=True), most=8), max_size=8), AS_OF_BACK)
def test_panel_many_refuses_what_extend_refuses(many, back) -> None:
    _run(many, back)


# -- chosen cases ---------------------------------------------------------------------------------
def _line(day_: str, amount: int, party: str, balance: int) -> dict:
    return {"booked_on": day_, "amount_fen": amount, "counterparty_hash": party,
            "balance_after_fen": balance}


FINE = [_line("2026-03-20", 500, HASHES[0], 1_000), _line("2026-03-10", -100, HASHES[1], 900),
        _line("2025-01-05", 10, HASHES[0], 7)]
FINE_TAIL = [_line("2026-03-20", 1, HASHES[1], 1_001), _line("2026-03-19", -5, HASHES[0], 3)]


def _fine() -> tuple[bank.Body, SourceData]:
    return bank.build(forms(SCOPE, FINE)[1]), forms(SCOPE, FINE_TAIL)[1]


def test_a_refused_business_between_two_fine_ones() -> None:
    huge = bank.build(forms(SCOPE, [_line("2026-05-02", 2**62, HASHES[0], 1)])[0])
    huge_tail = forms(SCOPE, [_line("2026-05-03", 2**62, HASHES[1], 2)])[1]
    beyond = forms(SCOPE, [_line("2026-05-03", 5, HASHES[1], 2**63)])[0]  # beyond int64
    fine, tail = _fine()
    for as_of in (PAYLOAD_AS_OF, date(2026, 4, 1), date(2024, 1, 1)):
        got = check([fine, huge, fine, bank.build(forms(SCOPE, FINE)[0]), fine],
                    [tail, huge_tail, tail, beyond, forms(SCOPE, [])[0]], as_of)
        assert got.ok.tolist() == [True, False, True, False, True]
        got = check([None, fine], [tail, tail], as_of)
        assert got.ok.tolist() == [False, True]


def test_empty_bodies_empty_tails_and_no_businesses() -> None:
    empty = bank.build(forms(SCOPE, [])[0])
    nothing = forms(SCOPE, [])[1]
    fine, tail = _fine()
    for as_of in (PAYLOAD_AS_OF, date(2026, 3, 15), date(2025, 1, 4), date(2020, 1, 1)):
        check([empty, fine, empty], [tail, nothing, nothing], as_of)
        check([empty, empty], [nothing, nothing], as_of)
        check([fine], [nothing], as_of)
        got = check([], [], as_of)
        assert len(got) == 0 and all(v.shape == (0, 16) for v, _ in got.columns.values())


def test_a_carried_balance_from_far_before_the_panel_and_a_later_tail_month() -> None:
    old = bank.build(forms(SCOPE, [_line("2022-02-03", 9, HASHES[2], 42),
                                   _line("2022-02-03", -9, HASHES[2], 33)])[0])
    tails = [forms(SCOPE, r)[1] for r in (
        [], [_line("2022-02-03", 1, HASHES[0], 77)],  # the same day: closes the month
        [_line("2022-02-02", 1, HASHES[0], 77)],  # an earlier day: leaves the close alone
        [_line("2023-06-30", -3, HASHES[1], -8)],  # a later month before the panel
        [_line("2026-01-31", 4, HASHES[2], 12), _line("2026-01-31", -4, HASHES[2], 8)])]
    for as_of in (PAYLOAD_AS_OF, date(2026, 2, 1), date(2026, 1, 31), date(2022, 2, 3)):
        check([old] * len(tails), tails, as_of)


def test_a_later_outflow_makes_the_bodys_inflows_round_trips() -> None:
    a = HASHES[3]
    body = bank.build(forms(SCOPE, [_line("2026-05-02", 70_000, a, 70_000),
                                    _line("2026-05-03", 30, a, 70_030)])[1])
    tail = forms(SCOPE, [_line("2026-05-28", -1, a, 70_029), _line("2026-05-28", 6, a, 7)])[0]
    got = check([body, body], [tail, forms(SCOPE, [])[0]], PAYLOAD_AS_OF)
    trips = got.columns["bank_round_trip_fen"][0]
    assert 70_036 in trips[0].tolist() and not trips[1].any()


def _many_lines(rng: np.random.Generator, count: int, parties: list[str]) -> list[dict]:
    """Random lines over the samples' span (many per month, a few counterparties)."""
    days = rng.integers(0, SPAN + 1, count)
    amounts = rng.choice([-1, 1], count) * rng.integers(1, 10**7, count)
    return [_line(day(int(d)).isoformat(), int(a), parties[int(p)], int(b))
            for d, a, p, b in zip(days, amounts, rng.integers(0, len(parties), count),
                                  rng.integers(-10**8, 10**9, count))]


def random_businesses(count: int, seed: int, lines: tuple[int, int] = (0, 400),
                      tail: tuple[int, int] = (0, 6), typed: bool = True
                      ) -> tuple[list, list]:
    """`count` businesses: a body of `lines` lines, a tail of `tail` more (the newest ones,
    and some within the body's months), random counterparties of a small pool."""
    rng = np.random.default_rng(seed)
    pool = [f"{i:016x}" for i in range(60)] + HASHES
    bodies, tails = [], []
    for _ in range(count):
        parties = [pool[int(i)] for i in rng.integers(0, len(pool), rng.integers(1, 30))]
        records = _many_lines(rng, int(rng.integers(*lines)), parties)
        more = _many_lines(rng, int(rng.integers(*tail)), parties)
        base, added = _split(records, len(records))[0], _split(records + more, len(records))[1]
        bodies.append(bank.build(forms(SCOPE, base)[int(typed)]))
        tails.append(forms(SCOPE, added)[int(typed) if rng.random() < 0.8 else 0])
    return bodies, tails


def test_a_few_hundred_random_businesses() -> None:
    bodies, tails = random_businesses(300, 7)
    for back in (-40, 0, 1, 20, 51, 140, 300, 590, 700):
        got = check(bodies, tails, PAYLOAD_AS_OF - timedelta(days=back))
        assert got.ok.all()


def test_the_overflow_guard_at_its_bound_on_the_merged_count() -> None:
    """Three lines whose largest magnitude times three is just below 2**63, and one more."""
    below = (2**63 - 1) // 3  # * 3 == 2**63 - 2
    for peak, fits in ((below, True), (below + 1, False)):
        for where in ("body", "tail"):
            big = _line("2026-05-03", 7, HASHES[1], peak if where == "tail" else 1)
            lines = [_line("2026-05-02", 5, HASHES[0], peak if where == "body" else 2),
                     _line("2026-05-01", -5, HASHES[2], 3)]
            body = bank.build(forms(SCOPE, lines)[1])
            assert body is not None
            got = check([body, body], [forms(SCOPE, [big])[1], forms(SCOPE, [])[1]],
                        PAYLOAD_AS_OF)
            assert got.ok.tolist() == [fits, True]


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.lists(businesses(bank_lines(), most=6), min_size=200, max_size=200),
       st.sampled_from([0, 51, 300]))
def test_two_hundred_businesses_of_the_sample_strategy(many, back) -> None:
    _run(many, back)
