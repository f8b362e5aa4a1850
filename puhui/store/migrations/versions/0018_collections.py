"""Collections: cases, contact attempts, promises to pay, restructuring offers, the audit trail.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("collection_audit",)


def upgrade() -> None:
    op.create_table(
        "collection_cases",
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("loan_id", sa.String(64), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(40), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(16), nullable=False),
        sa.Column("risk_class", sa.String(20), nullable=False),
        sa.Column("amount_overdue", sa.BigInteger(), nullable=False),
        sa.Column("owed", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("collector", sa.String(200), nullable=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(20), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_collection_cases")),
        sa.UniqueConstraint("loan_id", "episode", name=op.f("uq_collection_cases_loan_id_episode")),
    )
    op.create_index(op.f("ix_collection_cases_loan_id"), "collection_cases", ["loan_id"])
    op.create_index(op.f("ix_collection_cases_collector"), "collection_cases", ["collector"])
    op.create_index("ix_collection_cases_status_priority", "collection_cases",
                    ["status", "priority"])

    op.create_table(
        "contact_attempts",
        sa.Column("attempt_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("loan_id", sa.String(64), nullable=False),
        sa.Column("borrower", sa.String(64), nullable=False),
        sa.Column("collector", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("party", sa.String(30), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("request_key", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_contact_attempts")),
        sa.UniqueConstraint("case_id", "request_key",
                            name=op.f("uq_contact_attempts_case_id_request_key")),
    )
    op.create_index(op.f("ix_contact_attempts_case_id"), "contact_attempts", ["case_id"])
    op.create_index("ix_contact_attempts_borrower_attempted_at", "contact_attempts",
                    ["borrower", "attempted_at"])

    op.create_table(
        "collection_promises",
        sa.Column("promise_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("loan_id", sa.String(64), nullable=False),
        sa.Column("attempt_id", sa.String(32), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=True),
        sa.Column("made_by", sa.String(200), nullable=False),
        sa.Column("made_at", UTCDateTime(), nullable=False),
        sa.Column("request_key", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("promise_id", name=op.f("pk_collection_promises")),
        sa.UniqueConstraint("case_id", "request_key",
                            name=op.f("uq_collection_promises_case_id_request_key")),
    )
    op.create_index(op.f("ix_collection_promises_case_id"), "collection_promises", ["case_id"])
    op.create_index("ix_collection_promises_status_due_on", "collection_promises",
                    ["status", "due_on"])

    op.create_table(
        "restructuring_offers",
        sa.Column("offer_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("loan_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("rate_cap", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("event_key", sa.String(200), nullable=True),
        sa.Column("operation", sa.Text(), nullable=True),
        sa.Column("request_key", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_restructuring_offers")),
        sa.UniqueConstraint("case_id", "request_key",
                            name=op.f("uq_restructuring_offers_case_id_request_key")),
    )
    op.create_index(op.f("ix_restructuring_offers_case_id"), "restructuring_offers", ["case_id"])

    op.create_table(
        "collection_audit",
        sa.Column("id", BigKey, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=True),
        sa.Column("loan_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_audit")),
    )
    op.create_index(op.f("ix_collection_audit_case_id"), "collection_audit", ["case_id"])
    protect(APPEND_ONLY)  # puhui_append_only() comes with revision 0001


def downgrade() -> None:
    for table in ("collection_audit", "restructuring_offers", "collection_promises",
                  "contact_attempts", "collection_cases"):
        op.drop_table(table)  # indexes and triggers go with them
