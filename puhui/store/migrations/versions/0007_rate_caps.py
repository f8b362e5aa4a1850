"""The rate cap as a versioned setting: cap versions and recorded LPR publications.

Both tables are append-only, as the other evidence tables.  The platform's cap until now, a
fixed 24% of annualised all-in cost, is seeded as version 1 in force since 2000-01-01, so a
database keeps lending under the cap it always had until an operator records another.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("rate_cap_versions", "lpr_publications")
#: The cap every database had before this revision.
SEED = {"effective_from": date(2000, 1, 1), "kind": "fixed", "rate": "0.24", "multiple": None,
        "label": "24% comprehensive cost cap",
        "note": "the platform's cap before the cap became a setting",
        "recorded_at": datetime(2026, 12, 7, tzinfo=timezone.utc),
        "recorded_by": "migration 0007"}


def upgrade() -> None:
    versions = op.create_table(
        "rate_cap_versions",
        sa.Column("version", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rate", sa.String(length=32), nullable=True),
        sa.Column("multiple", sa.String(length=32), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_rate_cap_versions")))
    op.create_table(
        "lpr_publications",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("rate", sa.String(length=32), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lpr_publications")))
    assert versions is not None
    op.bulk_insert(versions, [SEED])
    protect(APPEND_ONLY)  # puhui_append_only() comes with revision 0001


def downgrade() -> None:
    op.drop_table("lpr_publications")  # their triggers go with them
    op.drop_table("rate_cap_versions")
