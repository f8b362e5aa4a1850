"""Personal data at rest: per-applicant data keys, keyed look-up hashes, erasure, access log.

Applicants get a wrapped data key and keyed hashes of the owner's resident ID and mobile; bound
accounts a keyed hash of the card; disbursement payees become sealed text (longer than the
plain number, hence Text).  `personal_data_access` logs every full read, export and erasure and
is append-only.  Rows written before this revision stay readable as they are; `puhui privacy
rotate` seals them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("applicants") as t:
        t.add_column(sa.Column("data_key", sa.Text(), nullable=True))
        t.add_column(sa.Column("owner_id_hash", sa.CHAR(length=64), nullable=True))
        t.add_column(sa.Column("mobile_hash", sa.CHAR(length=64), nullable=True))
        t.add_column(sa.Column("erased_at", UTCDateTime(), nullable=True))
        t.create_index(op.f("ix_applicants_owner_id_hash"), ["owner_id_hash"], unique=False)
        t.create_index(op.f("ix_applicants_mobile_hash"), ["mobile_hash"], unique=False)
    with op.batch_alter_table("bank_accounts") as t:
        t.add_column(sa.Column("card_hash", sa.CHAR(length=64), nullable=True))
        t.create_index(op.f("ix_bank_accounts_card_hash"), ["card_hash"], unique=False)
    _payee_columns(sa.Text(), sa.Text(), sa.String(length=200), sa.String(length=64))
    op.create_table(
        "personal_data_access",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_access")))
    op.create_index(op.f("ix_personal_data_access_applicant_id"), "personal_data_access",
                    ["applicant_id"], unique=False)
    protect(("personal_data_access",))


def downgrade() -> None:
    op.drop_table("personal_data_access")
    _payee_columns(sa.String(length=200), sa.String(length=64), sa.Text(), sa.Text())
    with op.batch_alter_table("bank_accounts") as t:
        t.drop_index(op.f("ix_bank_accounts_card_hash"))
        t.drop_column("card_hash")
    with op.batch_alter_table("applicants") as t:
        t.drop_index(op.f("ix_applicants_mobile_hash"))
        t.drop_index(op.f("ix_applicants_owner_id_hash"))
        t.drop_column("erased_at")
        t.drop_column("mobile_hash")
        t.drop_column("owner_id_hash")
        t.drop_column("data_key")


def _payee_columns(name: sa.types.TypeEngine, account: sa.types.TypeEngine,
                   old_name: sa.types.TypeEngine, old_account: sa.types.TypeEngine) -> None:
    """Retype the payee columns; SQLite rebuilds the table, which drops its append-only
    triggers, so they are made again."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("disbursements", recreate="always" if sqlite else "auto") as t:
        t.alter_column("payee_name", type_=name, existing_type=old_name, existing_nullable=False)
        t.alter_column("payee_account", type_=account, existing_type=old_account,
                       existing_nullable=False)
    if sqlite:
        protect(("disbursements",))
