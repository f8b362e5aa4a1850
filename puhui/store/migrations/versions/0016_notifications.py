"""Notifications: the outbox, the append-only delivery log and the borrowers' contact addresses.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notifications',
    sa.Column('notification_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=64), nullable=True),
    sa.Column('loan_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('context', sa.Text(), nullable=False),
    sa.Column('recipient', sa.Text(), nullable=True),
    sa.Column('recipient_masked', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('not_before', UTCDateTime(), nullable=False),
    sa.Column('claimed_at', UTCDateTime(), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('channel_message_id', sa.String(length=300), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('notification_id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('key', 'channel', name=op.f('uq_notifications_key_channel'))
    )
    op.create_index(op.f('ix_notifications_applicant_id'), 'notifications', ['applicant_id'],
                    unique=False)
    op.create_index('ix_notifications_status_not_before', 'notifications',
                    ['status', 'not_before'], unique=False)
    op.create_table('notification_deliveries',
    sa.Column('delivery_id', sa.String(length=32), nullable=False),
    sa.Column('notification_id', sa.String(length=32), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient_masked', sa.String(length=300), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('channel_message_id', sa.String(length=300), nullable=True),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('finished_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_id', name=op.f('pk_notification_deliveries'))
    )
    op.create_index(op.f('ix_notification_deliveries_notification_id'),
                    'notification_deliveries', ['notification_id'], unique=False)
    protect(("notification_deliveries",))
    op.create_table('notification_contacts',
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('address_masked', sa.String(length=300), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('applicant_id', 'channel', name=op.f('pk_notification_contacts'))
    )


def downgrade() -> None:
    op.drop_table('notification_contacts')
    op.drop_index(op.f('ix_notification_deliveries_notification_id'),
                  table_name='notification_deliveries')
    op.drop_table('notification_deliveries')
    op.drop_index('ix_notifications_status_not_before', table_name='notifications')
    op.drop_index(op.f('ix_notifications_applicant_id'), table_name='notifications')
    op.drop_table('notifications')
