"""Monitoring data kept merged per applicant and scope, and the change feeds' cursors.

`monitoring_state` is derived data (rebuilt from `source_payloads` whenever it is missing or
fails its SHA-256), so it is not append-only: each delta taken in updates its row.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.models import UTCDateTime

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_state",
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("business_id", sa.String(length=128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("first_as_of", sa.Date(), nullable=False),
        sa.Column("in_order", sa.Boolean(), nullable=False),
        sa.Column("covers_from", sa.Date(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("payloads", sa.Integer(), nullable=False),
        sa.Column("payload_sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("tail_sha256", sa.CHAR(length=64), nullable=True),
        sa.Column("tail", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("applicant_id", "scope", name=op.f("pk_monitoring_state")))
    op.create_index(op.f("ix_monitoring_state_business_id"), "monitoring_state", ["business_id"])
    op.create_table(
        "monitoring_applicants",
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("built_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("applicant_id", name=op.f("pk_monitoring_applicants")))
    op.create_table(
        "feed_cursors",
        sa.Column("feed", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("feed", name=op.f("pk_feed_cursors")))


def downgrade() -> None:
    op.drop_index(op.f("ix_monitoring_state_business_id"), table_name="monitoring_state")
    op.drop_table("feed_cursors")
    op.drop_table("monitoring_applicants")
    op.drop_table("monitoring_state")
