"""Fixtures for store tests that need to get around the database's own protections."""

from __future__ import annotations

from typing import Callable

import pytest
from sqlalchemy import Connection

from store_samples import drop_append_only


@pytest.fixture
def unprotect() -> Callable[[Connection, str], None]:
    return drop_append_only
