"""Risk data: the raw business-data payloads fetched for applicants, with their consent.

`source_payloads` is evidence and append-only in the database, as the 0003 evidence tables are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("source_payloads",)


def upgrade() -> None:
    op.create_table('source_payloads',
    sa.Column('id', BIG_KEY, autoincrement=True, nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=True),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('consent_id', sa.String(length=32), nullable=False),
    sa.Column('fetched_at', UTCDateTime(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('payload_sha256', sa.CHAR(length=64), nullable=False),
    sa.CheckConstraint("status IN ('accepted', 'rejected')", name=op.f('ck_source_payloads_status')),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.applicant_id'], name=op.f('fk_source_payloads_applicant_id_applicants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_payloads'))
    )
    op.create_index(op.f('ix_source_payloads_applicant_id'), 'source_payloads', ['applicant_id'], unique=False)
    op.create_index(op.f('ix_source_payloads_application_id'), 'source_payloads', ['application_id'], unique=False)

    protect(APPEND_ONLY)  # puhui_append_only() comes with revision 0001


def downgrade() -> None:
    op.drop_table('source_payloads')  # its triggers go with it
