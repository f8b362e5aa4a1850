"""Fixtures of the line tests (shared constants and helpers are in lines_samples.py,
line_policy_samples.py and line_service_samples.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

from line_policy_samples import TODAY
from lines_samples import START


@pytest.fixture
def platform(db_url: str) -> Iterator[Platform]:
    """A platform over a fresh database per backend, with a hand-moved clock at START."""
    p = Platform.open(db_url, clock=ManualClock(at_business_date(START)),
                      gateway=SandboxGateway())
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def monitored(db_url: str) -> Iterator[Platform]:
    """A platform on a fresh database whose clock stands at the line-policy samples' today."""
    p = Platform.open(db_url, clock=ManualClock(at_business_date(TODAY)))
    try:
        yield p
    finally:
        p.close()
