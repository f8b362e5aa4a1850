"""Tables of the durable store, as typed declarative models.

The models describe the schema for queries and for `alembic revision --autogenerate`; the schema
itself is created only by the migrations in `puhui/store/migrations`, which also install the
triggers that make the ledger and the event log append-only.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Deterministic constraint names, so migrations and error messages can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: BIGINT everywhere except SQLite, where only INTEGER PRIMARY KEY becomes the fast rowid key.
BigKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored in UTC and always comes back UTC-aware.

    SQLite has no time zones, so the value is stored as naive UTC there; naive input is refused
    everywhere, because a ledger time without a zone is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AccountRow(Base):
    """The chart of accounts, so every posting's account is a foreign key."""

    __tablename__ = "accounts"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))


class JournalEntryRow(Base):
    """One sealed journal entry: its chain position, content hash and link to its predecessor."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        # Partial unique indexes: NULL rows (most entries) cost nothing to index.
        Index("uq_journal_entries_event_key", "event_key", unique=True,
              sqlite_where=text("event_key IS NOT NULL"),
              postgresql_where=text("event_key IS NOT NULL")),
        Index("uq_journal_entries_reverses", "reverses", unique=True,  # reversed at most once
              sqlite_where=text("reverses IS NOT NULL"),
              postgresql_where=text("reverses IS NOT NULL")),
        Index("ix_journal_entries_attests", "attests_kind", "attests_ref",  # latest per document
              sqlite_where=text("attests_kind IS NOT NULL"),
              postgresql_where=text("attests_kind IS NOT NULL")),
        CheckConstraint("seq > 0", name="seq_positive"),
    )

    seq: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    booking_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(Text)
    event_key: Mapped[str | None] = mapped_column(String(200))
    # not indexed: per-loan reads go through journal_postings.loan_id, and every index on this
    # table is paid for by every posting
    loan_id: Mapped[str | None] = mapped_column(String(64))
    reverses: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("journal_entries.seq"))
    prev_hash: Mapped[str] = mapped_column(CHAR(64))
    # not unique-indexed: the chain itself (each entry names its predecessor's hash) is the
    # guarantee, and a unique index on a random 64-character key halves append throughput
    hash: Mapped[str] = mapped_column(CHAR(64))
    # An attestation entry (no postings) records a document by its content hash; NULL on money
    # entries.  All three are in the hashed body, as "attests": {"kind", "id", "sha256"}.
    attests_kind: Mapped[str | None] = mapped_column(String(64))
    attests_ref: Mapped[str | None] = mapped_column(String(200))
    attests_sha256: Mapped[str | None] = mapped_column(CHAR(64))


#: Foreign keys that PostgreSQL enforces with the ledger's statement trigger instead of as
#: constraints (migration 0002: one check per statement instead of one lookup per posting).
#: The models keep them because they are the schema's meaning and SQLite keeps them as
#: constraints; schema comparisons against PostgreSQL leave these two out.
TRIGGER_CHECKED_ON_POSTGRESQL = frozenset({
    "fk_journal_postings_account_accounts", "fk_journal_postings_entry_seq_journal_entries"})


class JournalPostingRow(Base):
    """One line of an entry: signed minor units (debit > 0, credit < 0)."""

    __tablename__ = "journal_postings"
    __table_args__ = (
        UniqueConstraint("entry_seq", "line_no"),
        CheckConstraint("amount <> 0", name="amount_nonzero"),
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    entry_seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("journal_entries.seq"))
    line_no: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(16), ForeignKey("accounts.code"))
    currency: Mapped[str] = mapped_column(CHAR(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    loan_id: Mapped[str | None] = mapped_column(String(64), index=True)


class LedgerHeadRow(Base):
    """The single row (id=1) naming the book's chain heads: the journal's last entry and the
    loan-event chain's last event.  Appenders of either lock it, so both chains stay linear and
    every writer takes the same lock first (no lock-order deadlock between the two).

    `book_id` names the book in signed checkpoints, so a checkpoint is never checked against
    another database by mistake.
    """

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(CHAR(64))
    events_seq: Mapped[int] = mapped_column(BigInteger)
    events_hash: Mapped[str] = mapped_column(CHAR(64))
    book_id: Mapped[str] = mapped_column(String(32))


class LoanRow(Base):
    """A loan's current status; `version` guards status changes against lost updates."""

    __tablename__ = "loans"

    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(CHAR(3))
    product: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)


class LoanEventRow(Base):
    """One event in a loan's append-only history, keyed for idempotent replays.

    Every event of the book is also a link of one hash chain, in `chain_seq` order: `hash` covers
    `prev_hash` (the previous event's hash) and the event's canonical body, so an edited,
    removed or reordered event breaks the chain (see `puhui.store.loan_repo.event_hash`).
    """

    __tablename__ = "loan_events"
    __table_args__ = (
        UniqueConstraint("loan_id", "seq"),
        UniqueConstraint("loan_id", "event_key"),
        Index("uq_loan_events_chain_seq", "chain_seq", unique=True),  # also the chain's read order
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"))
    seq: Mapped[int] = mapped_column(Integer)
    event_key: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(64))
    occurred_on: Mapped[date] = mapped_column(Date)
    payload: Mapped[str] = mapped_column(Text)
    payload_hash: Mapped[str] = mapped_column(CHAR(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(CHAR(64))
    hash: Mapped[str] = mapped_column(CHAR(64))


class BusinessDayRow(Base):
    """One business day the book has closed (end of day), with what the close did."""

    __tablename__ = "business_days"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loans: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)


def table_names() -> list[str]:
    """Every table the migrations create (alembic's own version table aside)."""
    return sorted(Base.metadata.tables)


__all__ = [
    "AccountRow", "Base", "BusinessDayRow", "JournalEntryRow", "JournalPostingRow", "LedgerHeadRow", "LoanEventRow",
    "LoanRow", "TRIGGER_CHECKED_ON_POSTGRESQL", "UTCDateTime", "table_names",
]
