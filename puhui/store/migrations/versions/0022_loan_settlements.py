"""The settlement cache: each loan's instalment settlement dates with the point of its history
they were computed at, so a book of lines reads its repayment record without replaying every
loan (`puhui.store.settlement_repo`).  Derived data: dropping it loses nothing.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loan_settlements",
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("closed_through", sa.Date(), nullable=True),
        sa.Column("awaits_close", sa.Boolean(), nullable=False),
        sa.Column("dues", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.loan_id"],
                                name=op.f("fk_loan_settlements_loan_id_loans")),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loan_settlements")))


def downgrade() -> None:
    op.drop_table("loan_settlements")
