"""The PostgreSQL balance check sums the statement's own postings (PostgreSQL only).

0002's statement trigger proved each touched entry balanced by reading all of its postings back
from `journal_postings` through the (entry_seq, line_no) index: one index probe per entry, on
rows the statement had only just written.  It now sums the statement's transition table
(`new_postings`) instead, with no index probe at all.  The two checks accept exactly the same
statements:

- the trigger refuses postings on any entry the current transaction did not create, so every
  posting an entry has was written by statements of this transaction, each one checked;
- by induction over those statements, if each statement's own postings balance per entry and
  currency, so does every entry (a sum of balanced sets balances), and if the entry's postings
  balanced after the previous statement, they balance after this one exactly when this
  statement's own postings for it do.

The other checks (known accounts, existing entry made by this transaction, no money on an
attestation) are unchanged.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The balance part of 0002's check: every posting of each touched entry, read back by index.
FROM_TABLE = """        SELECT 4, p.entry_seq, p.currency, sum(p.amount)
          FROM journal_postings p
         WHERE p.entry_seq = ANY ((SELECT seqs FROM touched)::bigint[])
         GROUP BY p.entry_seq, p.currency
        HAVING sum(p.amount) <> 0"""
#: The same check on the statement's own postings (see the module docstring for why it is).
FROM_STATEMENT = """        SELECT 4, n.entry_seq, n.currency, sum(n.amount)
          FROM new_postings n
         GROUP BY n.entry_seq, n.currency
        HAVING sum(n.amount) <> 0"""


def _revision_0002() -> ModuleType:
    path = Path(__file__).with_name("0002_ledger_statement_checks.py")
    spec = importlib.util.spec_from_file_location("puhui_migration_0002", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_function(balance_part: str) -> str:
    """0002's trigger function with `balance_part` as its balance check, as a replacement."""
    original: str = _revision_0002().PG_STATEMENT_CHECK
    if FROM_TABLE not in original:
        raise RuntimeError("0002's statement check is not the text this migration replaces")
    return original.replace(FROM_TABLE, balance_part).replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_check_function(FROM_STATEMENT))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_check_function(FROM_TABLE))
