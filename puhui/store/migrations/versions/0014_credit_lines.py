"""Credit lines and their append-only events; the memorandum accounts their commitments post to.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.ledger.accounts import CHART, Acct
from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MEMORANDUM = (Acct.LINE_COMMITMENT, Acct.LINE_COMMITMENT_CONTRA)


def upgrade() -> None:
    op.create_table('credit_lines',
    sa.Column('line_id', sa.String(length=32), nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=64), nullable=True),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('credit_limit', sa.BigInteger(), nullable=False),
    sa.Column('drawn', sa.BigInteger(), nullable=False),
    sa.Column('annual_rate', sa.String(length=32), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('line_id', name=op.f('pk_credit_lines')),
    sa.UniqueConstraint('application_id', name=op.f('uq_credit_lines_application_id'))
    )
    op.create_index(op.f('ix_credit_lines_applicant_id'), 'credit_lines', ['applicant_id'])
    op.create_index(op.f('ix_credit_lines_partner_id'), 'credit_lines', ['partner_id'])
    op.create_table('line_events',
    sa.Column('id', BigKey, autoincrement=True, nullable=False),
    sa.Column('line_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('request_key', sa.String(length=200), nullable=False),
    sa.Column('event_key', sa.String(length=240), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('commitment', sa.BigInteger(), nullable=False),
    sa.Column('credit_limit', sa.BigInteger(), nullable=False),
    sa.Column('drawn', sa.BigInteger(), nullable=False),
    sa.Column('annual_rate', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('loan_id', sa.String(length=32), nullable=True),
    sa.Column('decision_id', sa.String(length=64), nullable=True),
    sa.Column('journal_seq', sa.BigInteger(), nullable=True),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['credit_lines.line_id'],
                            name=op.f('fk_line_events_line_id_credit_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_line_events')),
    sa.UniqueConstraint('line_id', 'seq', name=op.f('uq_line_events_line_id_seq')),
    sa.UniqueConstraint('line_id', 'event_key', name=op.f('uq_line_events_line_id_event_key'))
    )
    op.create_index(op.f('ix_line_events_loan_id'), 'line_events', ['loan_id'])
    protect(["line_events"])  # puhui_append_only() comes with revision 0001
    # a database made by 0001 after the chart grew has them already; an older one gets them now
    present = set(op.get_bind().execute(sa.text("SELECT code FROM accounts")).scalars())
    accounts = sa.table("accounts", sa.column("code"), sa.column("name"), sa.column("type"))
    missing = [CHART[c] for c in MEMORANDUM if c not in present]
    if missing:
        op.bulk_insert(accounts, [{"code": a.code, "name": a.name, "type": a.type.value}
                                  for a in missing])


def downgrade() -> None:
    # the memorandum accounts stay: chart codes are permanent once postings may refer to them
    op.drop_table('line_events')
    op.drop_table('credit_lines')
