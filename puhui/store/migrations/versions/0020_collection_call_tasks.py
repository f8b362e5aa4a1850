"""Collections take early-warning actions: a case remembers whether it was opened by a warning
before the loan fell due (`origin`), and the call the warning asked for (when, why, urgent).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("collection_cases") as batch:
        batch.add_column(sa.Column("origin", sa.String(20), nullable=False,
                                   server_default="delinquency"))
        batch.add_column(sa.Column("call_requested_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("call_reason", sa.String(500), nullable=True))
        batch.add_column(sa.Column("call_urgent", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("collection_cases") as batch:
        batch.drop_column("call_urgent")
        batch.drop_column("call_reason")
        batch.drop_column("call_requested_on")
        batch.drop_column("origin")
