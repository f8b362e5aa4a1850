"""The book's business days: each end of day closed, in order.

The book has one business date; a close may only repeat the last closed date or move past it,
so the last row here is what the next close is checked against.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.models import UTCDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('business_days',
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('closed_at', UTCDateTime(), nullable=False),
    sa.Column('loans', sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('business_date', name=op.f('pk_business_days'))
    )


def downgrade() -> None:
    op.drop_table('business_days')
