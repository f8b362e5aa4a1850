"""Constants the API tests share (imported by name: a test never imports `conftest`, whose
module name every test directory's conftest.py shares)."""

from __future__ import annotations

from datetime import date

#: The business date every API test platform starts on.
START = date(2026, 3, 2)
