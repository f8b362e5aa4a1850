"""A platform over a fresh database per backend, with a hand-moved clock."""

from __future__ import annotations

from typing import Iterator

import pytest

from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

from lines_samples import START


@pytest.fixture
def platform(db_url: str) -> Iterator[Platform]:
    p = Platform.open(db_url, clock=ManualClock(at_business_date(START)),
                      gateway=SandboxGateway())
    try:
        yield p
    finally:
        p.close()
