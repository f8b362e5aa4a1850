"""A platform on a fresh database per backend with a hand-moved clock."""

from __future__ import annotations

from typing import Iterator

import pytest

from puhui.services.clock import ManualClock
from puhui.services.platform import Platform

from collections_samples import PAID_OUT, at


@pytest.fixture
def platform(db_url: str) -> Iterator[Platform]:
    p = Platform.open(db_url, clock=ManualClock(at(PAID_OUT)))
    try:
        yield p
    finally:
        p.close()
