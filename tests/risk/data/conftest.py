"""Fixtures of the risk-data tests (shared constants are in risk_data_samples.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from puhui.services.clock import ManualClock, at_business_date
from puhui.services.platform import Platform
from risk_data_samples import AS_OF


@pytest.fixture
def platform(db_url: str) -> Iterator[Platform]:
    """A platform on a fresh database whose clock stands at the samples' as-of date."""
    p = Platform.open(db_url, clock=ManualClock(at_business_date(AS_OF)))
    try:
        yield p
    finally:
        p.close()
