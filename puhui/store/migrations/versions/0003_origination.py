"""Origination platform: API keys, idempotency records, applicants, identity checks, bank
accounts, consents and their log, applications and their history, offers, contracts,
disbursements and auto-debits.

Evidence tables (identity checks, the consent log, application history, offers, disbursements)
are append-only in the database, as the journal is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("identity_checks", "consent_log", "application_events", "offers", "disbursements")
TABLES = ("auto_debits", "disbursements", "contracts", "offers", "application_events",
          "applications", "consent_log", "consents", "bank_accounts", "identity_checks",
          "applicants", "idempotency_records", "api_keys")


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.CHAR(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_api_keys'))
    )
    op.create_table('applicants',
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('business_name', sa.String(length=200), nullable=False),
    sa.Column('partner_id', sa.String(length=64), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('applicant_id', name=op.f('pk_applicants'))
    )
    op.create_index(op.f('ix_applicants_partner_id'), 'applicants', ['partner_id'], unique=False)
    op.create_table('consent_log',
    sa.Column('id', BIG_KEY, autoincrement=True, nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('consent_id', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=True),
    sa.Column('purpose', sa.String(length=32), nullable=True),
    sa.Column('application_id', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_log'))
    )
    op.create_index(op.f('ix_consent_log_applicant_id'), 'consent_log', ['applicant_id'], unique=False)
    op.create_table('idempotency_records',
    sa.Column('principal', sa.String(length=32), nullable=False),
    sa.Column('idem_key', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('request_hash', sa.CHAR(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('principal', 'idem_key', name=op.f('pk_idempotency_records'))
    )
    op.create_table('applications',
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=64), nullable=True),
    sa.Column('product_code', sa.String(length=64), nullable=False),
    sa.Column('requested_amount', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=True),
    sa.Column('offer_id', sa.String(length=32), nullable=True),
    sa.Column('contract_id', sa.String(length=32), nullable=True),
    sa.Column('loan_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.applicant_id'], name=op.f('fk_applications_applicant_id_applicants')),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_applications'))
    )
    op.create_index(op.f('ix_applications_applicant_id'), 'applications', ['applicant_id'], unique=False)
    op.create_index(op.f('ix_applications_partner_id'), 'applications', ['partner_id'], unique=False)
    op.create_index(op.f('ix_applications_status'), 'applications', ['status'], unique=False)
    op.create_table('auto_debits',
    sa.Column('id', BIG_KEY, autoincrement=True, nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('run_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('collected', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('gateway_ref', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], name=op.f('fk_auto_debits_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_debits')),
    sa.UniqueConstraint('loan_id', 'run_date', name=op.f('uq_auto_debits_loan_id_run_date'))
    )
    op.create_table('bank_accounts',
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('card_masked', sa.String(length=32), nullable=False),
    sa.Column('bound_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.applicant_id'], name=op.f('fk_bank_accounts_applicant_id_applicants')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_bank_accounts'))
    )
    op.create_index(op.f('ix_bank_accounts_applicant_id'), 'bank_accounts', ['applicant_id'], unique=False)
    op.create_table('consents',
    sa.Column('consent_id', sa.String(length=32), nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('granted_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.applicant_id'], name=op.f('fk_consents_applicant_id_applicants')),
    sa.PrimaryKeyConstraint('consent_id', name=op.f('pk_consents'))
    )
    op.create_index(op.f('ix_consents_applicant_id'), 'consents', ['applicant_id'], unique=False)
    op.create_table('identity_checks',
    sa.Column('id', BIG_KEY, autoincrement=True, nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('checked_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicants.applicant_id'], name=op.f('fk_identity_checks_applicant_id_applicants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_checks'))
    )
    op.create_index(op.f('ix_identity_checks_applicant_id'), 'identity_checks', ['applicant_id'], unique=False)
    op.create_table('application_events',
    sa.Column('id', BIG_KEY, autoincrement=True, nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.application_id'], name=op.f('fk_application_events_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_events')),
    sa.UniqueConstraint('application_id', 'seq', name=op.f('uq_application_events_application_id_seq'))
    )
    op.create_table('offers',
    sa.Column('offer_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.application_id'], name=op.f('fk_offers_application_id_applications')),
    sa.PrimaryKeyConstraint('offer_id', name=op.f('pk_offers'))
    )
    op.create_index(op.f('ix_offers_application_id'), 'offers', ['application_id'], unique=False)
    op.create_table('contracts',
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=False),
    sa.Column('offer_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=32), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.CHAR(length=64), nullable=False),
    sa.Column('ledger_seq', sa.BigInteger(), nullable=False),
    sa.Column('accepted_at', UTCDateTime(), nullable=False),
    sa.Column('signed_at', UTCDateTime(), nullable=True),
    sa.Column('signed_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['bank_accounts.account_id'], name=op.f('fk_contracts_account_id_bank_accounts')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.application_id'], name=op.f('fk_contracts_application_id_applications')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.offer_id'], name=op.f('fk_contracts_offer_id_offers')),
    sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('application_id', name=op.f('uq_contracts_application_id')),
    sa.UniqueConstraint('offer_id', name=op.f('uq_contracts_offer_id'))
    )
    op.create_table('disbursements',
    sa.Column('disbursement_id', sa.String(length=32), nullable=False),
    sa.Column('contract_id', sa.String(length=32), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=32), nullable=False),
    sa.Column('payee_name', sa.String(length=200), nullable=False),
    sa.Column('payee_account', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('paid_out', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.CHAR(length=3), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('gateway_ref', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.contract_id'], name=op.f('fk_disbursements_contract_id_contracts')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.loan_id'], name=op.f('fk_disbursements_loan_id_loans')),
    sa.PrimaryKeyConstraint('disbursement_id', name=op.f('pk_disbursements')),
    sa.UniqueConstraint('contract_id', name=op.f('uq_disbursements_contract_id')),
    sa.UniqueConstraint('loan_id', name=op.f('uq_disbursements_loan_id'))
    )

    protect(APPEND_ONLY)  # puhui_append_only() comes with revision 0001


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)  # its triggers go with it
