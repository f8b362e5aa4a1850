"""Decision records: what each automated credit decision used, to replay and explain it.

`decision_records` is evidence and append-only in the database, as the 0003 evidence tables are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("decision_records",)


def upgrade() -> None:
    op.create_table(
        "decision_records",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("policy_version", sa.String(length=200), nullable=False),
        sa.Column("policy_sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("record_sha256", sa.CHAR(length=64), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.application_id"],
                                name=op.f("fk_decision_records_application_id_applications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_records")))
    op.create_index(op.f("ix_decision_records_application_id"), "decision_records",
                    ["application_id"], unique=False)
    protect(APPEND_ONLY)  # puhui_append_only() comes with revision 0001


def downgrade() -> None:
    op.drop_table("decision_records")  # its triggers go with it
