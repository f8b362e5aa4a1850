"""Initial schema: chart of accounts, hash-chained journal, ledger head, loans and loan events.

The database itself refuses what the code must never do, so a bug or a stray SQL session cannot
quietly rewrite history: journal and event rows are append-only on both backends, and on
PostgreSQL a deferred constraint trigger rejects any journal entry whose postings do not sum to
zero per currency when the transaction commits.  (On SQLite, balance is enforced in code.)

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.ledger.accounts import CHART
from puhui.ledger.journal import GENESIS_HASH
from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("journal_entries", "journal_postings", "loan_events")

PG_FUNCTIONS = [
    """
    CREATE FUNCTION puhui_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE FUNCTION puhui_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        off record;
    BEGIN
        SELECT currency, sum(amount) AS net INTO off
          FROM journal_postings WHERE entry_seq = NEW.entry_seq
         GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance: % % off', NEW.entry_seq,
                off.net, off.currency USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
    )
    op.create_table(
        "journal_entries",
        sa.Column("seq", BIG_KEY, primary_key=True, autoincrement=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=True),
        sa.Column("loan_id", sa.String(64), nullable=True),
        sa.Column("reverses", sa.BigInteger(),
                  sa.ForeignKey("journal_entries.seq",
                                name="fk_journal_entries_reverses_journal_entries"),
                  nullable=True),
        sa.Column("prev_hash", sa.CHAR(64), nullable=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
        sa.CheckConstraint("seq > 0", name="ck_journal_entries_seq_positive"),
    )
    op.create_index("uq_journal_entries_event_key", "journal_entries", ["event_key"], unique=True,
                    sqlite_where=sa.text("event_key IS NOT NULL"),
                    postgresql_where=sa.text("event_key IS NOT NULL"))
    op.create_index("uq_journal_entries_reverses", "journal_entries", ["reverses"], unique=True,
                    sqlite_where=sa.text("reverses IS NOT NULL"),
                    postgresql_where=sa.text("reverses IS NOT NULL"))
    op.create_table(
        "journal_postings",
        sa.Column("id", BIG_KEY, primary_key=True, autoincrement=True),
        sa.Column("entry_seq", sa.BigInteger(),
                  sa.ForeignKey("journal_entries.seq",
                                name="fk_journal_postings_entry_seq_journal_entries"),
                  nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(16),
                  sa.ForeignKey("accounts.code", name="fk_journal_postings_account_accounts"),
                  nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.String(64), nullable=True),
        sa.CheckConstraint("amount <> 0", name="ck_journal_postings_amount_nonzero"),
        sa.UniqueConstraint("entry_seq", "line_no", name="uq_journal_postings_entry_seq_line_no"),
    )
    op.create_index("ix_journal_postings_loan_id", "journal_postings", ["loan_id"])
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.CHAR(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_ledger_head_single_row"),
    )
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.String(64), primary_key=True),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_loans_status", "loans", ["status"])
    op.create_table(
        "loan_events",
        sa.Column("id", BIG_KEY, primary_key=True, autoincrement=True),
        sa.Column("loan_id", sa.String(64),
                  sa.ForeignKey("loans.loan_id", name="fk_loan_events_loan_id_loans"),
                  nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.CHAR(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("loan_id", "seq", name="uq_loan_events_loan_id_seq"),
        sa.UniqueConstraint("loan_id", "event_key", name="uq_loan_events_loan_id_event_key"),
    )

    accounts = sa.table("accounts", sa.column("code"), sa.column("name"), sa.column("type"))
    op.bulk_insert(accounts, [{"code": a.code, "name": a.name, "type": a.type.value}
                              for a in CHART.values()])
    head = sa.table("ledger_head", sa.column("id"), sa.column("last_seq"), sa.column("last_hash"))
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}])

    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for ddl in PG_FUNCTIONS:
            op.execute(ddl)
    protect(APPEND_ONLY)
    if postgres:
        op.execute("CREATE CONSTRAINT TRIGGER journal_postings_balanced "
                   "AFTER INSERT ON journal_postings DEFERRABLE INITIALLY DEFERRED "
                   "FOR EACH ROW EXECUTE FUNCTION puhui_entry_balanced()")


def downgrade() -> None:
    for table in ("loan_events", "loans", "ledger_head", "journal_postings", "journal_entries",
                  "accounts"):
        op.drop_table(table)  # dropping a table drops its triggers too
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS puhui_entry_balanced()")
        op.execute("DROP FUNCTION IF EXISTS puhui_append_only()")
