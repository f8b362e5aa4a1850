"""Monitoring states' bases in a table of their own (`monitoring_bases`), apart from the head and
tail that every delta rewrites: a row is rewritten whole, so a base kept beside them was written
again with each delta taken in.  The bases move as they are.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_bases",
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("applicant_id", "scope", name=op.f("pk_monitoring_bases")))
    op.execute("INSERT INTO monitoring_bases (applicant_id, scope, codec, sha256, blob) "
               "SELECT applicant_id, scope, codec, sha256, blob FROM monitoring_state")
    with op.batch_alter_table("monitoring_state") as batch:
        batch.drop_column("blob")
        batch.drop_column("sha256")
        batch.drop_column("codec")


def downgrade() -> None:
    with op.batch_alter_table("monitoring_state") as batch:
        batch.add_column(sa.Column("codec", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sha256", sa.CHAR(length=64), nullable=True))
        batch.add_column(sa.Column("blob", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE monitoring_state SET "
               "codec = (SELECT b.codec FROM monitoring_bases b WHERE "
               "b.applicant_id = monitoring_state.applicant_id AND b.scope = monitoring_state.scope), "
               "sha256 = (SELECT b.sha256 FROM monitoring_bases b WHERE "
               "b.applicant_id = monitoring_state.applicant_id AND b.scope = monitoring_state.scope), "
               "blob = (SELECT b.blob FROM monitoring_bases b WHERE "
               "b.applicant_id = monitoring_state.applicant_id AND b.scope = monitoring_state.scope)")
    op.drop_table("monitoring_bases")
    with op.batch_alter_table("monitoring_state") as batch:
        batch.alter_column("codec", nullable=False)
        batch.alter_column("sha256", nullable=False)
        batch.alter_column("blob", nullable=False)
