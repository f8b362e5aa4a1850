"""Data-source payloads stored packed, and purged by the retention rule with a tombstone.

`source_payloads` gains `payload_codec`, `payload_blob` and `payload_bytes` (the size as
received); `payload` (the text) becomes optional: rows stored before keep it and stay readable.
`purged_payloads` (append-only) keeps a tombstone of each payload the retention purge deleted.
`source_payloads` stays append-only, with one exception checked by the database: a row may be
deleted once its tombstone exists (UPDATE and TRUNCATE stay refused).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.store.append_only import protect
from puhui.store.models import UTCDateTime

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFUSED = "source_payloads is append-only: DELETE refused (no purge record for the payload)"

PG_GUARD = f"""
CREATE FUNCTION puhui_payload_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM purged_payloads WHERE id = OLD.id) THEN
        RAISE EXCEPTION '{REFUSED}: %', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END $$
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table('purged_payloads',
    sa.Column('id', BigKey, autoincrement=False, nullable=False),
    sa.Column('applicant_id', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.String(length=32), nullable=True),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('consent_id', sa.String(length=32), nullable=False),
    sa.Column('fetched_at', UTCDateTime(), nullable=False),
    sa.Column('payload_sha256', sa.CHAR(length=64), nullable=False),
    sa.Column('payload_bytes', sa.Integer(), nullable=True),
    sa.Column('kept_until', sa.Date(), nullable=False),
    sa.Column('purged_at', UTCDateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purged_payloads'))
    )
    op.create_index(op.f('ix_purged_payloads_applicant_id'), 'purged_payloads', ['applicant_id'],
                    unique=False)
    op.create_index(op.f('ix_purged_payloads_application_id'), 'purged_payloads',
                    ['application_id'], unique=False)
    protect(("purged_payloads",))

    # SQLite rebuilds the table to make `payload` optional, which drops its triggers
    with op.batch_alter_table("source_payloads",
                              recreate="auto" if postgres else "always") as t:
        t.alter_column("payload", existing_type=sa.Text(), nullable=True)
        t.add_column(sa.Column("payload_codec", sa.String(length=16), nullable=True))
        t.add_column(sa.Column("payload_blob", sa.LargeBinary(), nullable=True))
        t.add_column(sa.Column("payload_bytes", sa.Integer(), nullable=True))
    if postgres:
        op.execute("DROP TRIGGER source_payloads_append_only ON source_payloads")
        op.execute("CREATE TRIGGER source_payloads_append_only BEFORE UPDATE OR TRUNCATE "
                   "ON source_payloads FOR EACH STATEMENT EXECUTE FUNCTION puhui_append_only()")
        op.execute(PG_GUARD)
        op.execute("CREATE TRIGGER source_payloads_purge_only BEFORE DELETE ON source_payloads "
                   "FOR EACH ROW EXECUTE FUNCTION puhui_payload_purge_only()")
    else:
        for name in ("source_payloads_no_update", "source_payloads_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("CREATE TRIGGER source_payloads_no_update BEFORE UPDATE ON source_payloads "
                   "BEGIN SELECT RAISE(ABORT, 'source_payloads is append-only: UPDATE refused'); "
                   "END")
        op.execute("CREATE TRIGGER source_payloads_no_delete BEFORE DELETE ON source_payloads "
                   "WHEN NOT EXISTS (SELECT 1 FROM purged_payloads WHERE id = OLD.id) "
                   f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END")


def downgrade() -> None:
    """Back to text: packed rows are unpacked into `payload` (purged ones are gone)."""
    from puhui.store.payload_codec import unpack

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER source_payloads_purge_only ON source_payloads")
        op.execute("DROP FUNCTION puhui_payload_purge_only()")
        op.execute("DROP TRIGGER source_payloads_append_only ON source_payloads")
    else:
        op.execute("DROP TRIGGER IF EXISTS source_payloads_no_update")
        op.execute("DROP TRIGGER IF EXISTS source_payloads_no_delete")
    rows = bind.execute(sa.text("SELECT id, payload_codec, payload_blob FROM source_payloads "
                                "WHERE payload_codec IS NOT NULL")).all()
    for row_id, codec, blob in rows:
        bind.execute(sa.text("UPDATE source_payloads SET payload = :text WHERE id = :id"),
                     {"text": unpack(codec, blob).decode("utf-8"), "id": row_id})
    with op.batch_alter_table("source_payloads",
                              recreate="auto" if postgres else "always") as t:
        t.drop_column("payload_bytes")
        t.drop_column("payload_blob")
        t.drop_column("payload_codec")
        t.alter_column("payload", existing_type=sa.Text(), nullable=False)
    if not postgres:
        for name in ("source_payloads_no_update", "source_payloads_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    protect(("source_payloads",))
    op.drop_table("purged_payloads")  # its triggers go with it
