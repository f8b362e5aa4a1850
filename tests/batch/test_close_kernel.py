"""The close kernel's pieces: exact integer arithmetic, and one definition of a plain loan."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from puhui.batch import arith
from puhui.batch.close import plain_mask
from puhui.loans.snapshot import MAX_PLAIN_AMOUNT, MAX_PLAIN_RATE_MICROS
from puhui.money import Rounding, div_round
from puhui.store.close_repo import CloseRepository
from puhui.store.db import session_factory
from puhui.store.loan_repo import LoanEventRepository


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(-10**15, 10**15), st.integers(1, 10**12)), min_size=1,
                max_size=30), st.sampled_from(list(Rounding)))
def test_array_division_rounds_as_the_scalar_rule(pairs, rounding) -> None:
    num = np.array([n for n, _ in pairs], dtype=np.int64)
    den = np.array([d for _, d in pairs], dtype=np.int64)
    got = arith.div_round(num, den, rounding).tolist()
    assert got == [div_round(n, d, rounding) for n, d in pairs]


DAY = date(2026, 5, 20)


def _position(**changes) -> dict:
    base = {"kind": "term", "status": "active", "product": "P", "currency": "CNY",
            "rounding": "half_up", "basis": 360, "rate_micros": 120_000,
            "penalty_rate_micros": 180_000, "opened_on": DAY - timedelta(days=40),
            "closed_through": DAY - timedelta(days=1), "charged_to": DAY - timedelta(days=1),
            "last_date": DAY - timedelta(days=1), "next_break": DAY + timedelta(days=3),
            "outstanding": 1_000_00, "credit": 0, "cur_start": DAY - timedelta(days=10),
            "cur_due": DAY + timedelta(days=3), "cur_interest": 500, "overdue_principal": 0,
            "arrears_since": None, "balance": 0, "expires_on": None}
    base.update(changes)
    return base


#: (what differs from a plain loan, whether the close of DAY still takes it as plain)
CASES = [
    ({}, True),
    ({"next_break": DAY}, False),                               # an instalment falls due today
    ({"next_break": DAY + timedelta(days=1)}, True),
    ({"last_date": DAY}, True),                                 # an event today, before the close
    ({"last_date": DAY + timedelta(days=1)}, False),            # an event dated after the day
    ({"charged_to": DAY}, False),                               # charged for the day already
    ({"charged_to": None}, False),
    ({"charged_to": DAY - timedelta(days=9)}, True),            # several plain days at once
    ({"cur_interest": MAX_PLAIN_AMOUNT}, True),
    ({"cur_interest": MAX_PLAIN_AMOUNT + 1}, False),            # beyond int64-safe bounds
    ({"overdue_principal": MAX_PLAIN_AMOUNT + 1}, False),
    ({"balance": MAX_PLAIN_AMOUNT + 1}, False),
    ({"rate_micros": MAX_PLAIN_RATE_MICROS}, True),
    ({"penalty_rate_micros": MAX_PLAIN_RATE_MICROS + 1}, False),
]


def test_the_kernel_and_the_store_agree_on_which_loans_are_plain(engine: Engine) -> None:
    """The close marks plain loans with one UPDATE whose WHERE clause is the kernel's mask in
    SQL; at every edge of the mask both must take the same loans (the close refuses to commit
    a partition where they differ)."""
    with session_factory(engine)() as session, session.begin():
        loans, closes = LoanEventRepository(session), CloseRepository(session)
        for n, (changes, _) in enumerate(CASES):
            loans.create_loan(f"L{n:02d}", "CNY", "{}", "active")
        closes.save([(f"L{n:02d}", 1, _position(**changes)["closed_through"], {},
                      _position(**changes)) for n, (changes, _) in enumerate(CASES)])
        frame = closes.partition(DAY, "L00", "L99")
        mask = dict(zip(frame["loan_id"].to_list(), plain_mask(frame, DAY).to_list()))
        expected = {f"L{n:02d}": plain for n, (_, plain) in enumerate(CASES)}
        taken = expected  # each is taken (closed through the day before); plain or through the engine
        assert mask == taken
        assert closes.mark_plain(DAY, "L00", "L99") == sum(taken.values())
        frame = closes.partition(DAY, "L00", "L99")
        left = set(frame["loan_id"].to_list())
        assert left == {k for k, plain in taken.items() if not plain}
