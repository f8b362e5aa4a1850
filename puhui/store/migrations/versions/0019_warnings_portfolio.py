"""Early warning and portfolio risk: loans' daily watch-list statuses and the actions they
produced, month-end loan positions, loan-loss provisions; and the chart's allowance (1305) and
provision expense (6702) accounts.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.models import UTCDateTime

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: The accounts this revision adds to the chart (a book migrated from 0001 on a newer chart
#: already has them: codes are permanent, so they are added only where missing).
NEW_ACCOUNTS = (("1305", "Loan-loss allowance (contra-asset)", "asset"),
                ("6702", "Credit impairment loss (loan-loss provisions)", "expense"))


def upgrade() -> None:
    op.create_table('loan_watch_statuses',
    sa.Column('id', BigKey, autoincrement=True, nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('previous', sa.String(length=16), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.Column('calm_since', sa.Date(), nullable=True),
    sa.Column('score', sa.String(length=32), nullable=False),
    sa.Column('signals', sa.Text(), nullable=False),
    sa.Column('actions', sa.Text(), nullable=False),
    sa.Column('rules_version', sa.String(length=100), nullable=False),
    sa.Column('rules_sha256', sa.CHAR(length=64), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'],
                            name=op.f('fk_loan_watch_statuses_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_watch_statuses')),
    sa.UniqueConstraint('loan_id', 'as_of', name=op.f('uq_loan_watch_statuses_loan_id_as_of'))
    )
    op.create_index(op.f('ix_loan_watch_statuses_as_of'), 'loan_watch_statuses', ['as_of'],
                    unique=False)
    op.create_table('warning_actions',
    sa.Column('id', BigKey, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=True),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('applied_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'],
                            name=op.f('fk_warning_actions_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warning_actions')),
    sa.UniqueConstraint('key', name=op.f('uq_warning_actions_key'))
    )
    op.create_index(op.f('ix_warning_actions_status'), 'warning_actions', ['status'],
                    unique=False)
    op.create_table('portfolio_positions',
    sa.Column('month_end', sa.Date(), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('originated_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=16), nullable=False),
    sa.Column('risk_class', sa.String(length=16), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('accrued', sa.BigInteger(), nullable=False),
    sa.Column('model_pd', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('month_end', 'loan_id', name=op.f('pk_portfolio_positions'))
    )
    op.create_table('loan_loss_provisions',
    sa.Column('month_end', sa.Date(), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('required', sa.BigInteger(), nullable=False),
    sa.Column('previous', sa.BigInteger(), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('by_class', sa.Text(), nullable=False),
    sa.Column('settings_version', sa.String(length=100), nullable=False),
    sa.Column('settings_sha256', sa.CHAR(length=64), nullable=False),
    sa.Column('entry_seq', sa.BigInteger(), nullable=True),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('month_end', name=op.f('pk_loan_loss_provisions'))
    )
    accounts = sa.table("accounts", sa.column("code"), sa.column("name"), sa.column("type"))
    have = set(op.get_bind().execute(sa.select(accounts.c.code)).scalars())
    missing = [{"code": c, "name": n, "type": t} for c, n, t in NEW_ACCOUNTS if c not in have]
    if missing:
        op.bulk_insert(accounts, missing)


def downgrade() -> None:
    # the accounts stay: chart codes are permanent (postings may name them)
    op.drop_table('loan_loss_provisions')
    op.drop_table('portfolio_positions')
    op.drop_index(op.f('ix_warning_actions_status'), table_name='warning_actions')
    op.drop_table('warning_actions')
    op.drop_index(op.f('ix_loan_watch_statuses_as_of'), table_name='loan_watch_statuses')
    op.drop_table('loan_watch_statuses')
