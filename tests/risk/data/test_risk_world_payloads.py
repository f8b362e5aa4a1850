"""The synthetic world's payloads stay exactly what they were: the same records, in the same
order, with the same keys and values, for the same seed, business and as_of.

The digests below were taken from the record-by-record generator before it was vectorised; a
change that moves a single field of a single record (a day, a fen, a hash, a key's position)
changes its source's digest.  The sample covers both kinds of world the platform builds (a
fixed training-like window and a `sme.live_world`), young, old and fraudulent businesses,
sources a business lacks, and as_of dates on month ends, leap days, the Spring Festival and the
world's first and last months.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import numpy as np
import pytest

from puhui.risk.data import world_records
from puhui.risk.data.payload import SOURCES
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import SourceUnavailable

FROZEN = {
    "tax": "eecde34872d30f3ffbcbf6d59c55c1a6",
    "sales": "e18541159f262f27804d2588fca14cd7",
    "utility": "c8a377fa8968f754bf7d4da51bb961f5",
    "logistics": "e3fcef857f3d12ce08d13d6137c48c5c",
    "bank_statement": "223fcf872d348dda6a5525b351743a3b",
    "bureau": "e06a1bf419214d1c371ce5e600fea3b5",
    "app_behaviour": "e96c15d8ad8b8d7aec4959c6029bf2bc",
}


def _cases():
    w = SyntheticWorld(600, seed=3, start=date(2024, 1, 1), months=36)
    dates = [date(2024, 2, 1), date(2024, 2, 29), date(2024, 3, 31), date(2025, 1, 29),
             date(2025, 6, 18), date(2025, 11, 12), date(2025, 12, 31), date(2026, 3, 1),
             date(2026, 12, 31)]
    picks = list(range(0, 600, 13)) + [int(i) for i in (w.fraud >= 0).nonzero()[0][:8]]
    for k, i in enumerate(picks):
        for d in (dates[k % 9], dates[(k + 4) % 9]):
            yield w, str(w.ids[i]), d
    live = SyntheticWorld(800, seed=11, start=date(2024, 5, 1), months=36)  # sme.live_world
    dates = [date(2026, 11, 23), date(2026, 11, 30), date(2026, 12, 1), date(2025, 2, 28),
             date(2027, 4, 30)]
    for k, i in enumerate(range(1, 800, 29)):
        yield live, str(live.ids[i]), dates[k % 5]


@pytest.fixture(scope="module")
def digests() -> dict[str, str]:
    h = {s.value: hashlib.sha256() for s in SOURCES}
    for w, business_id, as_of in _cases():
        for scope in SOURCES:
            try:
                text = json.dumps(w.payload(scope, business_id, as_of), separators=(",", ":"))
            except SourceUnavailable as exc:
                text = f"unavailable: {exc}"
            h[scope.value].update(f"{business_id}|{as_of}|{text}\n".encode())
    return {k: v.hexdigest()[:32] for k, v in h.items()}


@pytest.mark.parametrize("scope", sorted(FROZEN))
def test_payloads_are_the_frozen_ones(digests, scope):
    assert digests[scope] == FROZEN[scope]


def _panel_digest(w: SyntheticWorld, as_of: date) -> str:
    frame = w.panel(as_of)
    text = json.dumps([list(frame.columns), frame.rows()], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@pytest.mark.parametrize("as_of, frozen", [
    (date(2025, 11, 12), "824724965fe404621ac93fdd0906ae9a"),
    (date(2026, 12, 31), "2aa9e7ce50f2d8dfe332b1968f6a123b"),
])
def test_the_panel_is_the_frozen_one(as_of, frozen):
    """`world.panel` (what training uses) is computed from the same cells as the payloads."""
    assert _panel_digest(SyntheticWorld(300, seed=3, start=date(2024, 1, 1), months=36),
                         as_of) == frozen


def _answer(w: SyntheticWorld, scope, business_id: str, as_of: date) -> dict | str:
    try:
        return w.payload(scope, business_id, as_of)
    except SourceUnavailable as exc:
        return f"unavailable: {exc}"


def test_what_was_asked_before_changes_no_answer(monkeypatch):
    """A business's history is cached (to the month first asked for, then to the world's end;
    the least recently asked evicted): whatever was asked before, each answer is a fresh
    world's, and the cache stays within its bound."""
    monkeypatch.setattr(world_records, "HISTORY_CACHE", 2)
    settings = {"n_businesses": 120, "seed": 9, "start": date(2024, 1, 1), "months": 36}
    busy = SyntheticWorld(**settings)
    young = str(busy.ids[int(np.argmax(busy.d0))])  # no data yet on the earliest date below
    asked = [("SB0000007", date(2025, 3, 5)), ("SB0000042", date(2026, 8, 31)),
             ("SB0000007", date(2026, 8, 31)), (young, date(2024, 2, 10)),
             ("SB0000007", date(2024, 2, 10)), ("SB0000042", date(2025, 3, 5)),
             (young, date(2026, 12, 31))]
    for business_id, as_of in asked:
        fresh = SyntheticWorld(**settings)
        for scope in SOURCES:
            assert (_answer(busy, scope, business_id, as_of)
                    == _answer(fresh, scope, business_id, as_of)), (business_id, as_of, scope)
    assert len(world_records._state(busy).histories) == 2
