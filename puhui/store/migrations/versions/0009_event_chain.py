"""Loan events form one hash chain, and the book has an identity for signed checkpoints.

Each `loan_events` row gets its place in the book's event chain (`chain_seq`), the previous
event's hash (`prev_hash`) and its own (`hash`, see `puhui.store.loan_repo.event_hash`); the
ledger head row gets the event chain's head (`events_seq`, `events_hash`) beside the journal's,
and a random `book_id` that signed checkpoints name.  Events already stored are chained here, in
the order they were stored (`id`), so an existing book verifies as soon as it is migrated.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from typing import Sequence

import sqlalchemy as sa
from alembic import op

from puhui.ledger.journal import GENESIS_HASH
from puhui.store.append_only import protect
from puhui.store.loan_repo import event_hash
from puhui.store.models import UTCDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Events chained per round trip while backfilling.
CHUNK = 5_000

_EVENTS = sa.table(
    "loan_events", sa.column("id", sa.BigInteger()), sa.column("loan_id", sa.String()),
    sa.column("seq", sa.Integer()), sa.column("event_key", sa.String()),
    sa.column("event_type", sa.String()), sa.column("occurred_on", sa.Date()),
    sa.column("payload_hash", sa.String()), sa.column("recorded_at", UTCDateTime()),
    sa.column("chain_seq", sa.BigInteger()), sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()))
_HEAD = sa.table("ledger_head", sa.column("id", sa.Integer()),
                 sa.column("events_seq", sa.BigInteger()), sa.column("events_hash", sa.String()),
                 sa.column("book_id", sa.String()))


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    # NOT NULL columns need a default to be added to rows that exist; the backfill replaces it
    op.add_column("ledger_head", sa.Column("events_seq", sa.BigInteger(), nullable=False,
                                           server_default="0"))
    op.add_column("ledger_head", sa.Column("events_hash", sa.CHAR(64), nullable=False,
                                           server_default=GENESIS_HASH))
    op.add_column("ledger_head", sa.Column("book_id", sa.String(32), nullable=False,
                                           server_default=""))
    op.add_column("loan_events", sa.Column("chain_seq", sa.BigInteger(), nullable=False,
                                           server_default="0"))
    op.add_column("loan_events", sa.Column("prev_hash", sa.CHAR(64), nullable=False,
                                           server_default=""))
    op.add_column("loan_events", sa.Column("hash", sa.CHAR(64), nullable=False,
                                           server_default=""))

    # the append-only guard is lifted for the backfill alone
    if postgres:
        op.execute("ALTER TABLE loan_events DISABLE TRIGGER loan_events_append_only")
    else:
        op.execute("DROP TRIGGER loan_events_no_update")
        op.execute("DROP TRIGGER loan_events_no_delete")
    last_seq, last_hash = _chain_existing_events(bind)
    if postgres:
        op.execute("ALTER TABLE loan_events ENABLE TRIGGER loan_events_append_only")
    else:
        protect(["loan_events"])
    bind.execute(_HEAD.update().where(_HEAD.c.id == 1).values(
        events_seq=last_seq, events_hash=last_hash, book_id=secrets.token_hex(16)))

    op.create_index("uq_loan_events_chain_seq", "loan_events", ["chain_seq"], unique=True)
    if postgres:  # SQLite cannot drop a column default; a row without its link fails verify
        for table, column in (("ledger_head", "events_seq"), ("ledger_head", "events_hash"),
                              ("ledger_head", "book_id"), ("loan_events", "chain_seq"),
                              ("loan_events", "prev_hash"), ("loan_events", "hash")):
            op.alter_column(table, column, server_default=None)


def _chain_existing_events(bind: sa.Connection) -> tuple[int, str]:
    """Link every stored event into the chain in the order it was stored; return the head."""
    e = _EVENTS.c
    chain_seq, prev, after = 0, GENESIS_HASH, None
    while True:
        query = (sa.select(e.id, e.loan_id, e.seq, e.event_key, e.event_type, e.occurred_on,
                           e.payload_hash, e.recorded_at).order_by(e.id).limit(CHUNK))
        if after is not None:
            query = query.where(e.id > after)
        rows = bind.execute(query).all()
        if not rows:
            return chain_seq, prev
        updates = []
        for row_id, loan_id, seq, key, kind, on, digest, recorded in rows:
            chain_seq += 1
            link = event_hash(prev, chain_seq, loan_id, seq, key, kind, on, digest, recorded)
            updates.append({"b_id": row_id, "b_chain_seq": chain_seq, "b_prev": prev,
                            "b_hash": link})
            prev = link
        bind.execute(_EVENTS.update().where(e.id == sa.bindparam("b_id")).values(
            chain_seq=sa.bindparam("b_chain_seq"), prev_hash=sa.bindparam("b_prev"),
            hash=sa.bindparam("b_hash")), updates)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("uq_loan_events_chain_seq", table_name="loan_events")
    for table, column in (("loan_events", "hash"), ("loan_events", "prev_hash"),
                          ("loan_events", "chain_seq"), ("ledger_head", "book_id"),
                          ("ledger_head", "events_hash"), ("ledger_head", "events_seq")):
        op.drop_column(table, column)
