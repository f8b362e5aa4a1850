"""Loans and their append-only event logs.

A loan's state is rebuilt by replaying its events, so the log must be exact and safe to retry:
each event carries a caller-chosen idempotency key and is stored as canonical JSON with its
SHA-256.  A retry with the same key and content is a no-op; the same key with different content is
refused before anything is written.  Nothing here commits: the caller's transaction decides.

All events of the book, whatever their loan, also form one hash chain in the order they were
stored (`chain_seq`), as the journal does: each event's `hash` covers its predecessor's hash and
its own canonical body (`event_hash`), and the chain's head (seq and hash) is kept in the ledger
head row, which every appender locks first.  `verify_events` re-hashes the chain.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring as _s  # type: ignore[attr-defined]
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from puhui.calendar import utcnow
from puhui.errors import (
    ConcurrentModification,
    IdempotencyConflict,
    InvalidEvent,
    TamperDetected,
)
from puhui.ledger.journal import GENESIS_HASH
from puhui.money import check_currency
from puhui.store.models import Base, LedgerHeadRow, LoanEventRow, LoanRow

LOANS = Base.metadata.tables[LoanRow.__tablename__]
EVENTS = Base.metadata.tables[LoanEventRow.__tablename__]
HEAD = Base.metadata.tables[LedgerHeadRow.__tablename__]
MAX_PAGE = 10_000
#: Events read per query when streaming the event chain back (bounded memory for any size).
READ_CHUNK = 5_000

# Statements are built once: servicing runs them per event, and building a SQLAlchemy statement
# costs more than SQLite takes to execute it.
_LOAN_COLS = (LOANS.c.loan_id, LOANS.c.currency, LOANS.c.product, LOANS.c.status,
              LOANS.c.created_at, LOANS.c.updated_at, LOANS.c.version)
_GET_LOAN = select(*_LOAN_COLS).where(LOANS.c.loan_id == bindparam("loan_id"))
_SET_STATUS = (update(LOANS)
               .where(LOANS.c.loan_id == bindparam("b_loan_id"),
                      LOANS.c.version == bindparam("b_version"))
               .values(status=bindparam("status"), version=LOANS.c.version + 1,
                       updated_at=bindparam("updated_at")))
_EVENTS = (select(EVENTS.c.seq, EVENTS.c.event_key, EVENTS.c.event_type, EVENTS.c.occurred_on,
                  EVENTS.c.payload, EVENTS.c.payload_hash, EVENTS.c.recorded_at,
                  EVENTS.c.chain_seq)
           .where(EVENTS.c.loan_id == bindparam("loan_id")).order_by(EVENTS.c.seq))
_EVENT_BY_KEY = select(EVENTS.c.payload, EVENTS.c.payload_hash).where(
    EVENTS.c.loan_id == bindparam("loan_id"), EVENTS.c.event_key == bindparam("event_key"))
# The event chain's head lives in the ledger head row: both chains' appenders lock that one row
# first, so they queue in one line and can never wait for each other in opposite orders.
_EVENTS_HEAD = select(HEAD.c.events_seq, HEAD.c.events_hash).where(HEAD.c.id == 1)
_MOVE_EVENTS_HEAD = (update(HEAD).where(HEAD.c.id == 1)
                     .values(events_seq=bindparam("events_seq"),
                             events_hash=bindparam("events_hash")))
# What an append needs, in one round trip: the chain head (locked), whether the loan exists, the
# event already stored under the key (if any) and the loan's last event number.  The head lock
# serializes every appender, so a loan's own row need not be locked as well.
_STORED = EVENTS.alias("stored")
_APPEND_STATE = (
    select(HEAD.c.events_seq, HEAD.c.events_hash, LOANS.c.loan_id, _STORED.c.seq,
           _STORED.c.event_type, _STORED.c.occurred_on, _STORED.c.payload_hash,
           select(func.max(EVENTS.c.seq)).where(EVENTS.c.loan_id == bindparam("loan_id"))
           .scalar_subquery())
    .select_from(HEAD.outerjoin(LOANS, LOANS.c.loan_id == bindparam("loan_id"))
                 .outerjoin(_STORED, and_(_STORED.c.loan_id == bindparam("loan_id"),
                                          _STORED.c.event_key == bindparam("event_key"))))
    .where(HEAD.c.id == 1).with_for_update(of=HEAD))
#: Taken alone before `_APPEND_STATE` where rows lock (PostgreSQL): a statement that waits for a
#: row lock sees the locked row as committed after the wait, but its joins and subqueries as
#: they were when it began, so a waiter folding the reads into the locking statement would miss
#: the event its predecessor just stored and reuse its number.
_LOCK_HEAD = select(HEAD.c.id).where(HEAD.c.id == 1).with_for_update()
_INSERT_EVENT = insert(EVENTS)
_CHAIN_COLS = (EVENTS.c.chain_seq, EVENTS.c.loan_id, EVENTS.c.seq, EVENTS.c.event_key,
               EVENTS.c.event_type, EVENTS.c.occurred_on, EVENTS.c.payload,
               EVENTS.c.payload_hash, EVENTS.c.recorded_at, EVENTS.c.prev_hash, EVENTS.c.hash)
_CHAIN_FROM = (select(*_CHAIN_COLS).where(EVENTS.c.chain_seq >= bindparam("lo"))
               .order_by(EVENTS.c.chain_seq).limit(bindparam("n")))
_EVENT_AT = select(EVENTS.c.hash).where(EVENTS.c.chain_seq == bindparam("chain_seq"))


@dataclass(frozen=True, slots=True)
class LoanRecord:
    """A stored loan: identity, product terms (JSON text), status and version."""

    loan_id: str
    currency: str
    product: str
    status: str
    created_at: datetime
    updated_at: datetime
    version: int


def canonical_json(payload: Mapping[str, Any]) -> str:
    """Sorted-key, compact JSON of a JSON-native payload: one text per content, stable to hash.

    Floats are refused (money is integer fen, rates are decimal strings), as are dates, Decimals
    and other types JSON would silently turn into something else.
    """
    if not isinstance(payload, Mapping):
        raise InvalidEvent(f"event payload must be a mapping, got {type(payload).__name__}")
    _check_json(payload, "payload")
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def payload_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def event_body(chain_seq: int, loan_id: str, seq: int, event_key: str, event_type: str,
               occurred_on: date, digest: str, recorded_at: datetime) -> str:
    """The canonical JSON of a stored event as its chain link covers it: sorted keys, compact,
    the payload by its SHA-256 (`payload_hash`, which `verify_events` also re-computes).

    Equal to `json.dumps({...}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` of
    the same fields, written out because every stored event is hashed through here.
    """
    return (f'{{"chain_seq":{chain_seq},"event_key":{_s(event_key)},'
            f'"event_type":{_s(event_type)},"loan_id":{_s(loan_id)},'
            f'"occurred_on":"{occurred_on.isoformat()}","payload_hash":{_s(digest)},'
            f'"recorded_at":"{recorded_at.isoformat()}","seq":{seq}}}')


def event_hash(prev_hash: str, chain_seq: int, loan_id: str, seq: int, event_key: str,
               event_type: str, occurred_on: date, digest: str, recorded_at: datetime) -> str:
    """SHA-256 over the previous event's hash and this event's `event_body`: the link that makes
    an edited, removed or reordered event show (the journal's `entry_hash`, for events)."""
    body = event_body(chain_seq, loan_id, seq, event_key, event_type, occurred_on, digest,
                      recorded_at)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _check_json(value: Any, path: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        raise InvalidEvent(f"{path} is a float; send money as int fen and rates as strings")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEvent(f"{path} has a non-text key {key!r}")
            _check_json(item, f"{path}.{key}")
        return
    raise InvalidEvent(f"{path} is a {type(value).__name__}, not JSON; convert it to text first")


def _check_text(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise InvalidEvent(f"{what} must be 1-{limit} characters, got {value!r}")
    return value


class LoanEventRepository:
    """Create loans, append their events idempotently, read them back, move their status."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _conn(self) -> Connection:
        return self.session.connection()

    # -- loans --------------------------------------------------------------------------------
    def create_loan(self, loan_id: str, currency: str, product_json: str,
                    status: str) -> LoanRecord:
        """Register a loan with its product terms (a JSON object as text) at version 1."""
        _check_text(loan_id, 64, "loan_id")
        _check_text(status, 32, "status")
        check_currency(currency)
        try:
            terms = json.loads(product_json)
        except (TypeError, ValueError) as exc:
            raise InvalidEvent(f"product of loan {loan_id!r} is not JSON: {exc}") from None
        if not isinstance(terms, dict):
            raise InvalidEvent(f"product of loan {loan_id!r} must be a JSON object")
        if self.get_loan(loan_id) is not None:
            raise InvalidEvent(f"loan {loan_id!r} already exists")
        now = utcnow()
        record = LoanRecord(loan_id, currency, product_json, status, now, now, 1)
        self._conn().execute(insert(LOANS), {
            "loan_id": loan_id, "currency": currency, "product": product_json, "status": status,
            "created_at": now, "updated_at": now, "version": 1})
        return record

    def get_loan(self, loan_id: str) -> LoanRecord | None:
        row = self._conn().execute(_GET_LOAN, {"loan_id": loan_id}).first()
        return None if row is None else LoanRecord(*row)

    def list_loans(self, status: str | None = None, limit: int = 100,
                   offset: int = 0, opened_by: date | None = None) -> list[LoanRecord]:
        """One page of loans, oldest first, optionally only those in `status` and only those
        whose first event (the disbursement or line opening) is dated `opened_by` or earlier."""
        if not 0 < limit <= MAX_PAGE or offset < 0:
            raise InvalidEvent(f"page must have 1-{MAX_PAGE} rows and a non-negative offset")
        stmt = select(*_LOAN_COLS).order_by(LOANS.c.created_at, LOANS.c.loan_id)
        if status is not None:
            stmt = stmt.where(LOANS.c.status == status)
        if opened_by is not None:
            stmt = stmt.where(exists().where(EVENTS.c.loan_id == LOANS.c.loan_id,
                                             EVENTS.c.seq == 1,
                                             EVENTS.c.occurred_on <= opened_by))
        return [LoanRecord(*row) for row in self._conn().execute(stmt.limit(limit).offset(offset))]

    def loan_ids(self) -> list[str]:
        """Every loan's id, in order (for book-wide checks)."""
        return list(self._conn().execute(select(LOANS.c.loan_id).order_by(LOANS.c.loan_id))
                    .scalars())

    def count_loans(self) -> int:
        return int(self._conn().execute(select(func.count()).select_from(LOANS)).scalar_one())

    def update_status(self, loan_id: str, status: str, expected_version: int) -> int:
        """Set the status if the loan is still at `expected_version`; return the new version.

        Raises `ConcurrentModification` when another writer got there first.
        """
        _check_text(status, 32, "status")
        result = self._conn().execute(_SET_STATUS, {
            "b_loan_id": loan_id, "b_version": expected_version, "status": status,
            "updated_at": utcnow()})
        if result.rowcount == 1:
            return expected_version + 1
        current = self.get_loan(loan_id)
        if current is None:
            raise InvalidEvent(f"no loan {loan_id!r}")
        raise ConcurrentModification(f"loan {loan_id!r} is at version {current.version}, "
                                     f"not {expected_version}")

    # -- events -------------------------------------------------------------------------------
    def append_event(self, loan_id: str, event_key: str, event_type: str, occurred_on: date,
                     payload: Mapping[str, Any]) -> bool:
        """Append an event; False if this exact event (same key and content) is already stored.

        The same key with a different type, date or payload raises `IdempotencyConflict` and
        writes nothing.
        """
        _check_text(event_key, 200, "event_key")
        _check_text(event_type, 64, "event_type")
        if type(occurred_on) is not date:
            raise InvalidEvent(f"occurred_on must be a date, got {occurred_on!r}")
        body = canonical_json(payload)
        digest = payload_hash(body)
        conn = self._conn()
        # the chain head is locked first, as every appender of events or journal entries does;
        # SQLite writers are already serialised, so the separate lock is for PostgreSQL
        if conn.dialect.name != "sqlite":
            conn.execute(_LOCK_HEAD)
        state = conn.execute(_APPEND_STATE, {"loan_id": loan_id, "event_key": event_key}).first()
        if state is None:
            raise InvalidEvent("ledger head is missing: is the database migrated?")
        chain_last, chain_prev, known, *existing, last = state
        if known is None:
            raise InvalidEvent(f"no loan {loan_id!r}")
        if existing[0] is not None:
            if (existing[1], existing[2], existing[3]) == (event_type, occurred_on, digest):
                return False
            raise IdempotencyConflict(f"event key {event_key!r} of loan {loan_id!r} is already "
                                      f"event {existing[0]} with different content")
        seq, chain_seq, recorded_at = (last or 0) + 1, chain_last + 1, utcnow()
        link = event_hash(chain_prev, chain_seq, loan_id, seq, event_key, event_type, occurred_on,
                          digest, recorded_at)
        conn.execute(_INSERT_EVENT, {
            "loan_id": loan_id, "seq": seq, "event_key": event_key,
            "event_type": event_type, "occurred_on": occurred_on, "payload": body,
            "payload_hash": digest, "recorded_at": recorded_at, "chain_seq": chain_seq,
            "prev_hash": chain_prev, "hash": link})
        conn.execute(_MOVE_EVENTS_HEAD, {"events_seq": chain_seq, "events_hash": link})
        return True

    def events(self, loan_id: str) -> list[dict[str, Any]]:
        """The loan's events in order, each checked against its stored hash."""
        out = []
        for seq, key, kind, on, body, digest, recorded, chain_seq in self._conn().execute(
                _EVENTS, {"loan_id": loan_id}):
            if payload_hash(body) != digest:
                raise TamperDetected(f"event {seq} of loan {loan_id!r} was altered after it "
                                     "was stored")
            out.append({"seq": seq, "event_key": key, "event_type": kind, "occurred_on": on,
                        "payload": json.loads(body), "payload_hash": digest,
                        "recorded_at": recorded, "chain_seq": chain_seq})
        return out

    def stored_payload(self, loan_id: str, event_key: str) -> dict[str, Any] | None:
        """The content of the loan's event stored under `event_key`, checked against its hash,
        or None: what a command sent again is compared with."""
        row = self._conn().execute(_EVENT_BY_KEY, {"loan_id": loan_id,
                                                   "event_key": event_key}).first()
        if row is None:
            return None
        if payload_hash(row[0]) != row[1]:
            raise TamperDetected(f"event {event_key!r} of loan {loan_id!r} was altered after "
                                 "it was stored")
        return json.loads(row[0])

    # -- the event chain ---------------------------------------------------------------------
    def events_head(self) -> tuple[int, str]:
        """(last chain seq, last hash) of the book's event chain, without locking."""
        row = self._conn().execute(_EVENTS_HEAD).one()
        return int(row[0]), row[1]

    def event_hash_at(self, chain_seq: int) -> str | None:
        """The stored hash of the event at `chain_seq`, or None if there is none."""
        return self._conn().execute(_EVENT_AT, {"chain_seq": chain_seq}).scalar()

    def verify_events(self, remember: int | None = None,
                      chunk: int = READ_CHUNK) -> tuple[int, str | None]:
        """Re-hash the book's whole event chain and check it ends at the head.

        Returns (events verified, hash of the event at chain seq `remember` or None when there is
        no such event), so a checkpoint can be checked in the same pass.  Raises `TamperDetected`
        for an event whose payload, body, link or place was changed, a missing event (in the
        middle, or cut off the end while the head still remembers it), a chain that goes past
        the head, and a loan whose own event numbers skip or repeat.
        """
        conn = self._conn()
        prev, expected, seen = GENESIS_HASH, 1, None
        loan_seq: dict[str, int] = {}
        sha256 = hashlib.sha256
        while True:
            rows = conn.execute(_CHAIN_FROM, {"lo": expected, "n": chunk}).all()
            for (chain_seq, loan_id, seq, key, kind, on, body, digest, recorded, link_prev,
                 link) in rows:
                if chain_seq != expected:
                    raise TamperDetected(f"loan event {chain_seq} follows {expected - 1}: an "
                                         f"event is missing")
                if link_prev != prev:
                    raise TamperDetected(f"loan event {chain_seq} does not link to its "
                                         f"predecessor")
                if sha256(body.encode("utf-8")).hexdigest() != digest:
                    raise TamperDetected(f"loan event {chain_seq} (event {seq} of loan "
                                         f"{loan_id!r}) was altered after it was stored")
                if event_hash(prev, chain_seq, loan_id, seq, key, kind, on, digest,
                              recorded) != link:
                    raise TamperDetected(f"loan event {chain_seq} (event {seq} of loan "
                                         f"{loan_id!r}) was altered after it was stored")
                if seq != loan_seq.get(loan_id, 0) + 1:
                    raise TamperDetected(f"loan event {chain_seq} is event {seq} of loan "
                                         f"{loan_id!r}, whose last event was "
                                         f"{loan_seq.get(loan_id, 0)}")
                loan_seq[loan_id] = seq
                if chain_seq == remember:
                    seen = link
                prev, expected = link, expected + 1
            if len(rows) < chunk:
                break
        count = expected - 1
        head_seq, head_hash = self.events_head()
        if (head_seq, head_hash) != (count, prev):
            raise TamperDetected(f"the loan event chain ends at event {count} but the head says "
                                 f"{head_seq}: events are missing or the head was moved")
        return count, seen

