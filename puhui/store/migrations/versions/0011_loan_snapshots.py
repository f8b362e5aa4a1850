"""Loan snapshots, due positions and the partitions of each daily close.

A loan is loaded from its latest snapshot instead of replaying all its events, and the daily
close reads the due positions as columns and records each partition it closed (the close is no
longer stored as one event per loan and day; docs/ledger.md, "The daily close").  Snapshots and
positions start empty: loans are snapshotted when first loaded, and the close snapshots any
active loan that has no position yet.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.models import UTCDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loan_snapshots",
        sa.Column("loan_id", sa.String(64), sa.ForeignKey("loans.loan_id",
                  name=op.f("fk_loan_snapshots_loan_id_loans")), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("closed_through", sa.Date(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loan_snapshots")))
    op.create_table(
        "loan_positions",
        sa.Column("loan_id", sa.String(64), sa.ForeignKey("loans.loan_id",
                  name=op.f("fk_loan_positions_loan_id_loans")), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("rounding", sa.String(16), nullable=False),
        sa.Column("basis", sa.Integer(), nullable=False),
        sa.Column("rate_micros", sa.BigInteger(), nullable=False),
        sa.Column("penalty_rate_micros", sa.BigInteger(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("closed_through", sa.Date(), nullable=True),
        sa.Column("charged_to", sa.Date(), nullable=True),
        sa.Column("last_date", sa.Date(), nullable=True),
        sa.Column("next_break", sa.Date(), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("cur_start", sa.Date(), nullable=True),
        sa.Column("cur_due", sa.Date(), nullable=True),
        sa.Column("cur_interest", sa.BigInteger(), nullable=False),
        sa.Column("overdue_principal", sa.BigInteger(), nullable=False),
        sa.Column("arrears_since", sa.Date(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loan_positions")),
        # every close rewrites most rows in place: room in each page lets PostgreSQL keep the
        # new row version beside the old (a HOT update) instead of growing the table
        postgresql_with={"fillfactor": 70})
    op.create_index("ix_loan_positions_status_loan_id", "loan_positions", ["status", "loan_id"])
    op.create_table(
        "book_closes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("lo", sa.String(64), nullable=False),
        sa.Column("hi", sa.String(64), nullable=False),
        sa.Column("events_seq", sa.BigInteger(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("plain", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Text(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_book_closes")))
    op.create_index(op.f("ix_book_closes_business_date"), "book_closes", ["business_date"])


def downgrade() -> None:
    op.drop_table("book_closes")
    op.drop_index("ix_loan_positions_status_loan_id", table_name="loan_positions")
    op.drop_table("loan_positions")
    op.drop_table("loan_snapshots")
