"""A stored day column (`merged_state`'s kind ``o``: int64 ordinals) decodes exactly when every
ordinal is 0 (None) or a day of the calendar, and is refused as tampered otherwise: negative
ordinals, the ordinal after `date.max`, the int64 extremes."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest

from puhui.parties.consent import DataScope
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import parse_payload
from puhui.risk.errors import PayloadTampered

_MAX = date.max.toordinal()


def _encoded() -> tuple[bytes, int]:
    """A utility segment of more than `ms.SMALL` bills (so its days are stored as buffers),
    and where its `due_on` buffer starts in the bytes."""
    bills = [{"utility": "water" if i % 2 else "electricity",
              "period_month": f"{2025 + i // 12}-{i % 12 + 1:02d}", "usage": i,
              "amount_fen": 10 * i,
              "billed_on": (date(2025 + i // 12, i % 12 + 1, 28) + timedelta(days=5)).isoformat(),
              "due_on": (date(2025 + i // 12, i % 12 + 1, 28) + timedelta(days=20)).isoformat()}
             for i in range(ms.SMALL + 4)]
    payload = {"business_id": "B1", "as_of": "2026-12-31", "records": bills}
    data = parse_payload(DataScope.UTILITY, payload)
    blob = ms.encode(ms.segment_of(data, bills))
    (size,) = ms._LEN.unpack_from(blob, 4)
    header = json.loads(blob[8:8 + size])
    (start,) = [a for name, kind, a, _, _ in header["cols"] if name == "due_on" and kind == "o"]
    return blob, 8 + size + start


def _with_ordinal(value: int) -> bytes:
    blob, at = _encoded()
    return blob[:at + 8] + np.array([value], np.int64).tobytes() + blob[at + 16:]


@pytest.mark.parametrize("value", [0, 1, 738_000, _MAX])
def test_days_of_the_calendar_decode(value) -> None:
    segment = ms.decode(DataScope.UTILITY, _with_ordinal(value))
    assert segment.columns["due_on"].days()[1] == value


@pytest.mark.parametrize("value", [-1, -738_000, _MAX + 1, 2 ** 63 - 1, -2 ** 63])
def test_days_beyond_the_calendar_are_refused(value) -> None:
    with pytest.raises(PayloadTampered, match="beyond the calendar"):
        ms.decode(DataScope.UTILITY, _with_ordinal(value))


def test_an_untouched_segment_decodes_to_its_days() -> None:
    blob, _ = _encoded()
    segment = ms.decode(DataScope.UTILITY, blob)
    assert segment.columns["due_on"].kind == "d" and segment.count == ms.SMALL + 4
