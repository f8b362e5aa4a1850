"""Staff servicing requests with maker-checker: who asked for which operation on which loan,
who decided, and what applying it did.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.models import UTCDateTime

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "servicing_requests",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("request_key", sa.String(length=300), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("maker", sa.String(length=64), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("checker", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_key", sa.String(length=300), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("event_key", sa.String(length=200), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'applied', 'rejected', 'expired', 'failed')",
                           name=op.f("ck_servicing_requests_status")),
        sa.CheckConstraint("status <> 'applied' OR checker IS NULL OR checker <> maker",
                           name=op.f("ck_servicing_requests_checker_is_not_maker")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_servicing_requests_amount")),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_servicing_requests")),
        sa.UniqueConstraint("request_key", name=op.f("uq_servicing_requests_request_key")),
    )
    op.create_index("ix_servicing_requests_loan_id_request_id", "servicing_requests",
                    ["loan_id", "request_id"])
    op.create_index("ix_servicing_requests_status_request_id", "servicing_requests",
                    ["status", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_servicing_requests_status_request_id", table_name="servicing_requests")
    op.drop_index("ix_servicing_requests_loan_id_request_id", table_name="servicing_requests")
    op.drop_table("servicing_requests")
