"""Panels assembled from stacked reductions (`risk.stacked`) are the panels `panel.panel_from`
and `panel.panels_frame` give one business at a time: the blocks, the frame and the
per-business columns, with sources absent, a source refused, a business without activity
before as_of, and no business at all."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from puhui.parties.consent import DataScope
from puhui.risk import sme
from puhui.risk._reduce import REDUCERS
from puhui.risk.data.payload import parse_records
from puhui.risk.errors import SourceUnavailable
from puhui.risk.panel import PANEL_SCHEMA, ROWS, month_index, panel_from, panels_frame
from puhui.risk.stacked import NO_MONTH, PanelBlocks, Stacked, stack

TODAY = date(2026, 12, 7)
SCOPES = (DataScope.SALES, DataScope.TAX, DataScope.UTILITY, DataScope.LOGISTICS,
          DataScope.BANK_STATEMENT, DataScope.APP_BEHAVIOUR, DataScope.BUREAU)


def _reductions(as_of: date, count: int = 6) -> list[tuple[str, dict]]:
    """Businesses of the synthetic world with each a different set of sources."""
    world = sme.live_world(40, 7, TODAY)
    ids = world.businesses()["business_id"].to_list()[:count]
    top = month_index(as_of)
    out = []
    for k, business in enumerate(ids):
        reduced = {}
        for j, scope in enumerate(SCOPES):
            if (j + k) % 3 == 0:
                continue  # this business lacks this source
            try:
                source = parse_records(scope, world.payload(scope, business, TODAY))
            except SourceUnavailable:
                continue
            reduced[scope] = REDUCERS[scope](source, as_of, top)
        out.append((business, reduced))
    return out


def _blocks(found: list[tuple[str, dict]], as_of: date) -> PanelBlocks:
    top = month_index(as_of)
    parts = []
    for scope in SCOPES:
        who = [k for k, (_, reduced) in enumerate(found) if scope in reduced]
        parts.append((np.array(who, np.int64),
                      stack(scope, [found[k][1][scope] for k in who], top)))
    return PanelBlocks.of(len(found), parts)


def _same_columns(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs) == list(PANEL_SCHEMA)
    for name in ours:
        (v1, m1), (v2, m2) = ours[name], theirs[name]
        m1 = np.ones(ROWS, bool) if m1 is None else m1
        m2 = np.ones(ROWS, bool) if m2 is None else m2
        assert np.array_equal(m1, m2), name
        assert np.array_equal(v1[m1], v2[m2]), name


def test_blocks_give_the_panels_of_one_business_at_a_time() -> None:
    for as_of in (TODAY, date(2025, 3, 31), date(2020, 1, 1)):  # the last: before any record
        found = _reductions(as_of)
        blocks = _blocks(found, as_of)
        expected = [panel_from(b, as_of, reduced) for b, reduced in found]
        for k, (business, _) in enumerate(found):
            _same_columns(blocks.columns(k, business, as_of), expected[k])
        keys = [f"AP{k}" for k in range(len(found))]
        keyed = [{**e, "business_id": (np.full(ROWS, key, dtype=object), None)}
                 for e, key in zip(expected, keys)]
        assert_frame_equal(blocks.frame(keys, as_of), panels_frame(keyed))


def test_a_business_before_any_activity_has_no_first_month() -> None:
    found = _reductions(date(2020, 1, 1), 2)
    blocks = _blocks(found, date(2020, 1, 1))
    assert (blocks.first_month == NO_MONTH).all()
    frame = blocks.frame(["A", "B"], date(2020, 1, 1))
    assert frame["first_activity_month"].null_count() == 2 * ROWS


def test_a_refused_business_is_not_ok_and_spread_keeps_places() -> None:
    found = _reductions(TODAY, 5)
    top = month_index(TODAY)
    sales = [found[k][1][DataScope.SALES] for k in (1, 2, 4)]  # those with sales
    stacked = stack(DataScope.SALES, [sales[0], None, sales[2]], top)
    assert stacked.ok.tolist() == [True, False, True]
    wide = stacked.spread(np.array([1, 3, 4]), 6)
    assert wide.ok.tolist() == [False, True, False, False, True, False]
    assert np.array_equal(wide.columns["sales_gross_fen"][0][4],
                          stacked.columns["sales_gross_fen"][0][2])
    assert wide.first_month[1] == stacked.first_month[0]


def test_no_business_gives_an_empty_frame_of_the_schema() -> None:
    blocks = PanelBlocks.of(0, [(np.zeros(0, np.int64), Stacked.empty(DataScope.SALES, 0))])
    frame = blocks.frame([], TODAY)
    assert frame.height == 0 and frame.schema == pl.Schema(PANEL_SCHEMA)
