"""Summaries of monitoring states' bases (`monitoring_summaries`): the monthly totals a refresh
reads instead of a whole base.  Empty at first: a summary is made when a base is first read by
a refresh.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_summaries",
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("base_sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("window_from", sa.Date(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("applicant_id", "scope", name=op.f("pk_monitoring_summaries")))


def downgrade() -> None:
    op.drop_table("monitoring_summaries")
