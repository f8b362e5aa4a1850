"""Line decision records: every re-evaluation of a credit line under the line policy.

`line_decisions` is evidence and append-only in the database, as `decision_records` is.
Monitoring data pushed or pulled after the payout is kept in `source_payloads` (an applicant's
payload with no application), which needs no change.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("line_decisions",)


def upgrade() -> None:
    op.create_table(
        "line_decisions",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(length=32), nullable=False),
        sa.Column("line_id", sa.String(length=32), nullable=False),
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("policy_version", sa.String(length=200), nullable=False),
        sa.Column("policy_sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("changes", sa.Boolean(), nullable=False),
        sa.Column("limit_after", sa.BigInteger(), nullable=True),
        sa.Column("rate_after", sa.String(length=20), nullable=True),
        sa.Column("freeze", sa.Boolean(), nullable=True),
        sa.Column("engaged", sa.Text(), nullable=False),
        sa.Column("input_sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("record_sha256", sa.CHAR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_decisions")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_line_decisions_decision_id")),
        sa.UniqueConstraint("line_id", "input_sha256",
                            name=op.f("uq_line_decisions_line_id_input_sha256")))
    protect(APPEND_ONLY)  # puhui_append_only() comes with revision 0001


def downgrade() -> None:
    op.drop_table("line_decisions")  # its triggers go with it
