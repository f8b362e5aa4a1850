"""The durable journal: the same rules as `puhui.ledger.journal.Journal`, in the database.

Appends take the ledger head row's lock first, so concurrent writers queue up and the hash chain
stays one unbroken line; rows go in through `puhui.store.bulk` because a nightly batch posts
hundreds of thousands of entries.  Nothing here commits: the caller's transaction decides, so a
loan event and its postings land together or not at all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import ColumnElement, Connection, any_, bindparam, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.calendar import utcnow
from puhui.errors import (
    IdempotencyConflict,
    ImmutableEntry,
    InvalidAttestation,
    LedgerError,
    TamperDetected,
)
from puhui.ledger.journal import (
    GENESIS_HASH,
    Attestation,
    EntryDraft,
    JournalEntry,
    Posting,
    attestation_draft,
    replayed,
    sealing,
    verify_chain,
)
from puhui.store.bulk import bound_values, bulk_insert, collector_paused
from puhui.store.pipeline import InsertPipeline
from puhui.store.models import Base, JournalEntryRow, JournalPostingRow, LedgerHeadRow

ENTRIES = Base.metadata.tables[JournalEntryRow.__tablename__]
POSTINGS = Base.metadata.tables[JournalPostingRow.__tablename__]
HEAD = Base.metadata.tables[LedgerHeadRow.__tablename__]

#: Entries read per query when streaming the journal back (bounded memory for any size).
READ_CHUNK = 5_000
#: Entries from which a SQLite append stores rows on a writer thread (`InsertPipeline`); a
#: smaller append is over before a thread would have started.
PIPELINE_MIN_ENTRIES = 1_000
#: Entries sealed per chunk handed to the writer thread: big enough to fill several statements,
#: small enough that the writer starts soon and the last chunk (stored alone) is short.
PIPELINE_CHUNK = 333
#: Keys per IN (...) lookup, well under every backend's bound-parameter limit.
LOOKUP_CHUNK = 1_000

ENTRY_COLUMNS = ("seq", "booking_date", "created_at", "description", "event_key", "loan_id",
                 "reverses", "prev_hash", "hash", "attests_kind", "attests_ref", "attests_sha256")
POSTING_COLUMNS = ("entry_seq", "line_no", "account", "currency", "amount", "loan_id")
_ENTRY_COLS = tuple(ENTRIES.c[name] for name in ENTRY_COLUMNS)
_NO_ATTESTATION = (None, None, None)
_POSTING_COLS = (POSTINGS.c.entry_seq, POSTINGS.c.account, POSTINGS.c.amount, POSTINGS.c.currency,
                 POSTINGS.c.loan_id)
# Built once: small appends (one loan event at a time) run these constantly.
_HEAD = select(HEAD.c.last_seq, HEAD.c.last_hash).where(HEAD.c.id == 1)
_LOCK_HEAD = _HEAD.with_for_update()
_BOOK_ID = select(HEAD.c.book_id).where(HEAD.c.id == 1)
_MOVE_HEAD = (update(HEAD).where(HEAD.c.id == 1)
              .values(last_seq=bindparam("last_seq"), last_hash=bindparam("last_hash")))
# One array parameter for all of an append's event keys: PostgreSQL plans it far faster than a
# long IN (...) list, and SQLite reads a JSON array through json_each (built in since 3.38) with
# one prepared statement instead of rendering a thousand placeholders per chunk.
_KNOWN_KEY_PG = select(ENTRIES.c.event_key, ENTRIES.c.seq).where(
    ENTRIES.c.event_key == any_(bindparam("keys", type_=ARRAY(ENTRIES.c.event_key.type)))).limit(1)
_KNOWN_KEY_SQLITE = ("SELECT event_key, seq FROM journal_entries "
                     "WHERE event_key IN (SELECT value FROM json_each(?)) LIMIT 1")


class LedgerRepository:
    """Append, read back, verify and report on the hash-chained journal."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _conn(self) -> Connection:
        return self.session.connection()

    # -- writing ------------------------------------------------------------------------------
    def append(self, drafts: Sequence[EntryDraft]) -> list[JournalEntry]:
        """Seal and insert `drafts` in order as the chain's next entries; the caller commits.

        Every draft is checked (balance, accounts, event keys, reversals), and a bad one leaves
        the transaction as it was: checked before anything is written, or, in a large SQLite
        append, chunk by chunk as the chunks are written, inside a savepoint that is rolled back.
        """
        drafts = list(drafts)
        if not drafts:
            return []
        with collector_paused():
            return self._append(drafts)

    def _append(self, drafts: list[EntryDraft]) -> list[JournalEntry]:
        conn = self._conn()
        # A large SQLite append validates each chunk just before sealing it, while the writer
        # thread stores the chunk before (see _write), inside a savepoint, so a bad draft still
        # leaves the caller's transaction as it was; any other append validates all up front.
        pipelined = len(drafts) >= PIPELINE_MIN_ENTRIES and conn.dialect.name == "sqlite"
        for draft in drafts:
            _check_shape(draft)
            if not pipelined:
                draft.validate()  # balance and accounts: all before anything is written
        keys = [d.event_key for d in drafts if d.event_key is not None]
        if len(set(keys)) != len(keys):
            raise IdempotencyConflict("the same event key appears twice in one append")
        last_seq, prev_hash = self._lock_head(conn)
        self._check_reversals(conn, drafts, last_seq)
        created_at = utcnow()
        if not keys and not pipelined:
            return self._write(conn, drafts, last_seq, prev_hash, created_at, pipelined)
        # An event key already on the ledger is found by the unique index the insert maintains
        # anyway, instead of by one more lookup per key beforehand; the savepoint leaves the
        # caller's transaction clean when it is.
        try:
            with conn.begin_nested():
                return self._write(conn, drafts, last_seq, prev_hash, created_at, pipelined)
        except IntegrityError:
            if keys:
                self._check_event_keys(conn, keys)  # names the key that was posted before
            raise

    def _write(self, conn: Connection, drafts: list[EntryDraft], last_seq: int, prev_hash: str,
               created_at: datetime, pipelined: bool) -> list[JournalEntry]:
        """Seal `drafts` after the head, insert them and move the head past them.

        `pipelined`: validate the drafts chunk by chunk as they are sealed, and store each chunk
        on a writer thread (the caller rolls back to its savepoint if a draft is refused).
        """
        entries = sealing(drafts, last_seq + 1, prev_hash, created_at)
        days = bound_values(conn, ENTRIES, "booking_date", {d.booking_date for d in drafts})
        created = bound_values(conn, ENTRIES, "created_at", (created_at,))[created_at]

        def entry_rows(sealed: Iterable[JournalEntry]) -> Iterator[tuple]:
            return ((e.seq, days[e.booking_date], created, e.description, e.event_key, e.loan_id,
                     e.reverses, e.prev_hash, e.hash)
                    + (_NO_ATTESTATION if (a := e.attests) is None else (a.kind, a.ref, a.sha256))
                    for e in sealed)

        prebound = ("booking_date", "created_at")
        sealed: list[JournalEntry] = []
        if conn.dialect.name == "postgresql":
            # Each entry goes to the server as soon as it is sealed (see bulk_insert), so the
            # server stores one entry while the next is hashed.  Every posting of the append in
            # ONE statement (COPY): the balance trigger checks each statement, so an entry's
            # postings must never be split across statements.
            bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, entry_rows(_kept(entries, sealed.append)),
                        prebound=prebound)
            bulk_insert(conn, POSTINGS, POSTING_COLUMNS, _posting_rows(sealed))
        elif pipelined:
            # SQLite stores one chunk on a writer thread while this thread checks and hashes
            # the next.
            with InsertPipeline(conn) as pipe:
                for start in range(0, len(drafts), PIPELINE_CHUNK):
                    for draft in drafts[start:start + PIPELINE_CHUNK]:
                        draft.validate()
                    chunk = list(islice(entries, PIPELINE_CHUNK))
                    sealed.extend(chunk)
                    pipe.insert(ENTRIES, ENTRY_COLUMNS, list(entry_rows(chunk)), prebound)
                    pipe.insert(POSTINGS, POSTING_COLUMNS, _posting_rows(chunk))
        else:
            sealed.extend(entries)
            bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, list(entry_rows(sealed)), prebound=prebound)
            bulk_insert(conn, POSTINGS, POSTING_COLUMNS, _posting_rows(sealed))
        conn.execute(_MOVE_HEAD, {"last_seq": sealed[-1].seq, "last_hash": sealed[-1].hash})
        return sealed

    def reverse(self, seq: int, booking_date: date, description: str | None = None,
                event_key: str | None = None) -> JournalEntry:
        """Post the mirror image of entry `seq`; an entry can be reversed only once."""
        original = self.get(seq)
        if original is None:
            raise LedgerError(f"there is no journal entry {seq} to reverse")
        if original.attests is not None:
            raise InvalidAttestation(f"entry {seq} is an attestation and moves no money: attest "
                                     f"the document again to supersede it")
        draft = EntryDraft(booking_date, description or f"reversal of entry {seq}",
                           tuple(p.reversed() for p in original.postings), event_key,
                           original.loan_id, seq)
        return self.append([draft])[0]

    def attest(self, kind: str, ref: str, sha256: str, booking_date: date, description: str,
               event_key: str | None = None) -> JournalEntry:
        """Record document (`kind`, `ref`) by its SHA-256 on the chain: an entry with no postings
        whose hashed body carries the attestation, so `verify` catches any later change to it.

        Idempotent on `event_key`: a retry with the same key and content returns the entry
        posted first; the same key with other content raises `IdempotencyConflict`.
        """
        draft = attestation_draft(kind, ref, sha256, booking_date, description, event_key)
        _check_shape(draft)
        if event_key is not None:
            self._lock_head(self._conn())  # concurrent retries queue here, then find the first
            existing = self.find_by_event_key(event_key)
            if existing is not None:
                return replayed(existing, draft)
        return self.append([draft])[0]

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        # FOR UPDATE on PostgreSQL; on SQLite the engine's BEGIN IMMEDIATE already holds the lock.
        row = conn.execute(_LOCK_HEAD).one_or_none()
        if row is None:
            raise LedgerError("ledger head is missing: is the database migrated?")
        return int(row[0]), row[1]

    def _check_event_keys(self, conn: Connection, keys: Sequence[str]) -> None:
        """Raise `IdempotencyConflict` if any of `keys` is already on the ledger."""
        if conn.dialect.name == "postgresql":
            found = conn.execute(_KNOWN_KEY_PG, {"keys": list(keys)}).first()
        else:
            found = conn.exec_driver_sql(_KNOWN_KEY_SQLITE, (json.dumps(list(keys)),)).first()
        if found is not None:
            raise IdempotencyConflict(
                f"event key {found[0]!r} was already posted as entry {found[1]}")

    def _check_reversals(self, conn: Connection, drafts: Sequence[EntryDraft],
                         last_seq: int) -> None:
        targets = [(i, d.reverses) for i, d in enumerate(drafts, start=last_seq + 1)
                   if d.reverses is not None]
        if not targets:
            return
        seen: set[int] = set()
        for own_seq, target in targets:
            if not 1 <= target < own_seq:
                raise LedgerError(f"entry {own_seq} cannot reverse entry {target}: no such entry")
            if target in seen:
                raise ImmutableEntry(f"entry {target} would be reversed twice")
            seen.add(target)
        for chunk in _chunks(sorted(seen), LOOKUP_CHUNK):
            done = conn.execute(select(ENTRIES.c.reverses, ENTRIES.c.seq)
                                .where(_among(conn, ENTRIES.c.reverses, chunk)).limit(1)).first()
            if done is not None:
                raise ImmutableEntry(f"entry {done[0]} was already reversed by entry {done[1]}")

    # -- reading ------------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """(last seq, last hash) of the chain, without locking."""
        row = self._conn().execute(_HEAD).one()
        return int(row[0]), row[1]

    def entries(self, from_seq: int = 1, chunk: int = READ_CHUNK) -> Iterator[JournalEntry]:
        """Every entry from `from_seq` on, in chain order, read in chunks of `chunk` entries."""
        conn, lo = self._conn(), from_seq
        while True:
            rows = conn.execute(select(*_ENTRY_COLS).where(ENTRIES.c.seq >= lo)
                                .order_by(ENTRIES.c.seq).limit(chunk)).all()
            if not rows:
                return
            yield from self._assemble(conn, rows, POSTINGS.c.entry_seq.between(rows[0][0],
                                                                               rows[-1][0]))
            lo = rows[-1][0] + 1

    def get(self, seq: int) -> JournalEntry | None:
        return self._one(ENTRIES.c.seq == seq)

    def find_by_event_key(self, event_key: str) -> JournalEntry | None:
        """The entry posted for `event_key`, if any (how callers make postings idempotent)."""
        return self._one(ENTRIES.c.event_key == event_key)

    def attestation(self, kind: str, ref: str) -> JournalEntry | None:
        """The latest entry attesting document (`kind`, `ref`), or None."""
        return self._one((ENTRIES.c.attests_kind == kind) & (ENTRIES.c.attests_ref == ref),
                         latest=True)

    def attested(self, kind: str) -> dict[str, str]:
        """ref -> sha256 of every document of `kind` attested on the journal (the latest per
        ref), without their entries."""
        stmt = (select(ENTRIES.c.attests_ref, ENTRIES.c.attests_sha256)
                .where(ENTRIES.c.attests_kind == kind).order_by(ENTRIES.c.seq))
        return {ref: digest for ref, digest in self._conn().execute(stmt)}

    def _one(self, where: ColumnElement[bool], latest: bool = False) -> JournalEntry | None:
        conn = self._conn()
        stmt = select(*_ENTRY_COLS).where(where)
        if latest:
            stmt = stmt.order_by(ENTRIES.c.seq.desc()).limit(1)
        row = conn.execute(stmt).first()
        if row is None:
            return None
        return next(self._assemble(conn, [row], POSTINGS.c.entry_seq == row[0]))

    def _assemble(self, conn: Connection, rows: Sequence[Any],
                  posting_filter: ColumnElement[bool]) -> Iterator[JournalEntry]:
        lines: dict[int, list[Posting]] = defaultdict(list)
        for entry_seq, account, amount, currency, loan_id in conn.execute(
                select(*_POSTING_COLS).where(posting_filter)
                .order_by(POSTINGS.c.entry_seq, POSTINGS.c.line_no)):
            lines[entry_seq].append(Posting(account, int(amount), currency, loan_id))
        for (seq, booked, created, description, event_key, loan_id, reverses, prev, h,
             kind, ref, sha256) in rows:
            # any stored part rebuilds the attestation, so a half-erased one still fails verify
            attests = (None if kind is None and ref is None and sha256 is None
                       else Attestation(kind, ref, sha256))
            yield JournalEntry(int(seq), booked, created, description, tuple(lines.get(seq, ())),
                               event_key, loan_id, None if reverses is None else int(reverses),
                               prev, h, attests)

    # -- checking and reporting ---------------------------------------------------------------
    def verify(self) -> int:
        """Re-hash the whole chain and check it ends at the head; return the entry count.

        Raises `TamperDetected` for an edited, removed, reordered or unbalanced entry, including
        entries cut off the end of the chain (which the head row still remembers).
        """
        return self.verify_at(None)[0]

    def verify_at(self, remember: int | None) -> tuple[int, str | None]:
        """`verify`, also returning the hash of entry `remember` as the chain holds it (None if
        there is no such entry), so a checkpoint is checked in the same single pass."""
        last = [0, GENESIS_HASH]
        seen: list[str | None] = [None]

        def tracked() -> Iterator[JournalEntry]:
            for entry in self.entries():
                last[:] = [entry.seq, entry.hash]
                if entry.seq == remember:
                    seen[0] = entry.hash
                yield entry

        count = verify_chain(tracked())
        head_seq, head_hash = self.head()
        if (head_seq, head_hash) != (last[0], last[1]) or count != head_seq:
            raise TamperDetected(f"the chain ends at entry {last[0]} but the ledger head says "
                                 f"{head_seq}: entries are missing")
        return count, seen[0]

    def book_id(self) -> str:
        """The book's identity, which signed checkpoints name (set once, by migration 0009)."""
        return self._conn().execute(_BOOK_ID).scalar_one()

    def balances(self, loan_id: str | None = None) -> dict[tuple[str, str], int]:
        """Signed balance per (account, currency), optionally for one loan; zeros dropped."""
        stmt = (select(POSTINGS.c.account, POSTINGS.c.currency, func.sum(POSTINGS.c.amount))
                .group_by(POSTINGS.c.account, POSTINGS.c.currency))
        if loan_id is not None:
            stmt = stmt.where(POSTINGS.c.loan_id == loan_id)
        return {(a, c): int(s) for a, c, s in self._conn().execute(stmt) if int(s) != 0}

    def trial_balance(self) -> dict[str, int]:
        """Net of all postings per currency: zero for every currency in a sound ledger."""
        net: dict[str, int] = defaultdict(int)
        for (_, currency), amount in self.balances().items():
            net[currency] += amount
        return dict(net)


def _kept(entries: Iterator[JournalEntry],
          keep: Callable[[JournalEntry], None]) -> Iterator[JournalEntry]:
    """`entries`, each passed to `keep` as it goes by."""
    for entry in entries:
        keep(entry)
        yield entry


def _posting_rows(sealed: Iterable[JournalEntry]) -> list[tuple]:
    return [(e.seq, n, p.account, p.currency, p.amount, p.loan_id)
            for e in sealed for n, p in enumerate(e.postings, start=1)]


def _check_shape(draft: EntryDraft) -> None:
    """Refuse drafts the database would store differently from how they were hashed."""
    if not isinstance(draft, EntryDraft):
        raise LedgerError(f"expected an EntryDraft, got {type(draft).__name__}")
    if type(draft.booking_date) is not date:  # a datetime would hash its time, store only its date
        raise LedgerError(f"booking_date must be a date, got {draft.booking_date!r}")
    if not isinstance(draft.description, str):
        raise LedgerError("description must be text")
    if draft.reverses is not None and (type(draft.reverses) is not int or draft.reverses < 1):
        raise LedgerError(f"reverses must be an entry's seq, got {draft.reverses!r}")
    # inline fast paths: every entry of a bulk load passes through here
    key = draft.event_key
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= 200):
        _check_text(key, 200, "event_key")
    loan = draft.loan_id
    if loan is not None and not (isinstance(loan, str) and 0 < len(loan) <= 64):
        _check_text(loan, 64, "loan_id")
    for posting in draft.postings:
        loan = posting.loan_id
        if loan is not None and not (isinstance(loan, str) and 0 < len(loan) <= 64):
            _check_text(loan, 64, "posting loan_id")


def _check_text(value: object, limit: int, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= limit):
        raise LedgerError(f"{what} must be 1-{limit} characters, got {value!r}")


def _among(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`, as one array parameter on PostgreSQL (much faster to plan)."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
