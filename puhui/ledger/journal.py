"""Balanced, immutable, hash-chained journal entries.

Amounts are signed integer minor units: a debit is positive, a credit negative, so "balanced"
means the postings of each currency sum to zero.  Each posted entry carries the hash of its
predecessor; changing any posted byte breaks every later hash, which `verify_chain` reports.
Corrections are new entries that reverse old ones; nothing is ever edited in place.

An entry either moves money (two or more balanced postings) or attests a document (no postings,
and an `Attestation`: the document's kind, id and SHA-256 in the hashed body), so a signed loan
contract is pinned to the chain without a money movement and any later edit of it shows.
"""

from __future__ import annotations

import hashlib
import json
import re
from json.encoder import encode_basestring as _s  # type: ignore[attr-defined]
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Iterator, NamedTuple, Sequence

from puhui.calendar import utcnow
from puhui.errors import (
    IdempotencyConflict,
    ImmutableEntry,
    InvalidAttestation,
    TamperDetected,
    UnbalancedEntry,
    UnknownEntry,
)
from puhui.ledger.accounts import CHART, account
from puhui.money import CURRENCY_EXPONENTS, check_currency

GENESIS_HASH = "0" * 64
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of an entry: signed minor units (debit > 0, credit < 0) on an account."""

    account: str
    amount: int
    currency: str = "CNY"
    loan_id: str | None = None

    def reversed(self) -> "Posting":
        return Posting(self.account, -self.amount, self.currency, self.loan_id)


@dataclass(frozen=True, slots=True)
class Attestation:
    """A document recorded on the chain by its content hash, e.g. a signed loan contract:
    `kind` ("loan_contract"), `ref` (its id, hashed as "id") and `sha256` (64 lowercase hex)."""

    kind: str
    ref: str
    sha256: str

    def validate(self) -> "Attestation":
        """Raise `InvalidAttestation` unless kind (1-64 characters), ref (1-200) and sha256 are
        well formed."""
        for value, limit, what in ((self.kind, 64, "kind"), (self.ref, 200, "ref")):
            if not isinstance(value, str) or not 0 < len(value) <= limit:
                raise InvalidAttestation(f"attestation {what} must be 1-{limit} characters, "
                                         f"got {value!r}")
        if not isinstance(self.sha256, str) or not _SHA256_HEX.fullmatch(self.sha256):
            raise InvalidAttestation(f"attestation sha256 must be 64 lowercase hex digits, "
                                     f"got {self.sha256!r}")
        return self


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """An entry not yet posted: what the servicing engine produces for one money event, or the
    attestation of a document (no postings)."""

    booking_date: date
    description: str
    postings: tuple[Posting, ...]
    event_key: str | None = None
    loan_id: str | None = None
    reverses: int | None = None
    attests: Attestation | None = None

    def validate(self) -> "EntryDraft":
        """Raise unless the entry has postings on known accounts, balanced per currency, and no
        attestation; or no postings, a well-formed attestation and nothing it would reverse.

        Written flat because every posting of a bulk load passes through here.
        """
        if self.attests is not None:
            return self._validate_attestation()
        if not self.postings:
            raise UnbalancedEntry("an entry needs at least one posting")
        sums: dict[str, int] = {}
        for p in self.postings:
            amount, currency = p.amount, p.currency
            # one test for the usual case; the slow path says which rule was broken
            if (p.account not in CHART or currency not in CURRENCY_EXPONENTS
                    or type(amount) is not int or amount == 0):  # bools, floats: not amounts
                _refuse(p)
            sums[currency] = sums.get(currency, 0) + amount
        if any(sums.values()):
            off = {c: s for c, s in sums.items() if s != 0}
            raise UnbalancedEntry(f"entry {self.description!r} does not balance: {off}")
        return self

    def _validate_attestation(self) -> "EntryDraft":
        if not isinstance(self.attests, Attestation):
            raise InvalidAttestation(f"attests must be an Attestation, got {self.attests!r}")
        if self.postings:
            raise InvalidAttestation("an attestation entry moves no money: it takes no postings")
        if self.reverses is not None:
            raise InvalidAttestation("an attestation entry cannot reverse another entry")
        self.attests.validate()
        return self


def _refuse(p: Posting) -> None:
    """Raise the error for the first rule posting `p` breaks."""
    if p.account not in CHART:
        account(p.account)  # raises UnknownAccount with the chart's message
    if p.currency not in CURRENCY_EXPONENTS:
        check_currency(p.currency)
    raise UnbalancedEntry(f"posting amount must be a non-zero int, got {p.amount!r}")


class JournalEntry(NamedTuple):
    """A posted entry: its place in the chain, its time and its hashes.

    A named tuple rather than a frozen dataclass: just as immutable, and a bulk append creates
    one per entry, where a tuple costs a tenth of a frozen dataclass's field-by-field setup.
    """

    seq: int
    booking_date: date
    created_at: datetime
    description: str
    postings: tuple[Posting, ...]
    event_key: str | None
    loan_id: str | None
    reverses: int | None
    prev_hash: str
    hash: str = ""
    attests: Attestation | None = None

    def payload(self) -> dict:
        """The canonical content the hash covers ("attests" only on attestations, so entries
        without one hash exactly as they always have)."""
        body = {
            "seq": self.seq,
            "booking_date": self.booking_date.isoformat(),
            "created_at": self.created_at.isoformat(),
            "description": self.description,
            "event_key": self.event_key,
            "loan_id": self.loan_id,
            "reverses": self.reverses,
            "postings": [[p.account, p.currency, p.amount, p.loan_id] for p in self.postings],
        }
        if self.attests is not None:
            a = self.attests
            body["attests"] = {"kind": a.kind, "id": a.ref, "sha256": a.sha256}
        return body


def entry_hash(prev_hash: str, payload: dict) -> str:
    """SHA-256 over the predecessor's hash and the entry's canonical JSON."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def canonical_body(entry: "JournalEntry") -> str:
    """The entry's canonical JSON, byte for byte what `json.dumps(entry.payload(), sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` gives, built directly because sealing is the hot
    path of bulk posting (tests hold the two equal)."""
    return _body(entry.seq, entry.booking_date.isoformat(), entry.created_at.isoformat(),
                 entry.description, entry.event_key, entry.loan_id, entry.reverses,
                 entry.postings, entry.attests)


def _body(seq: int, booked: str, created: str, description: str, event_key: str | None,
          loan_id: str | None, reverses: int | None, postings: Sequence[Posting],
          attests: Attestation | None) -> str:
    # None tests written inline, not as calls: this runs once per posted entry
    lines = ",".join([f'[{_s(p.account)},{_s(p.currency)},{p.amount},'
                      f'{"null" if p.loan_id is None else _s(p.loan_id)}]' for p in postings])
    # "attests" sorts first, and is absent (not null) when there is none
    head = "{" if attests is None else (
        f'{{"attests":{{"id":{_s(attests.ref)},"kind":{_s(attests.kind)},'
        f'"sha256":{_s(attests.sha256)}}},')
    return (f'{head}"booking_date":"{booked}","created_at":"{created}",'
            f'"description":{_s(description)},'
            f'"event_key":{"null" if event_key is None else _s(event_key)},'
            f'"loan_id":{"null" if loan_id is None else _s(loan_id)},"postings":[{lines}],'
            f'"reverses":{"null" if reverses is None else reverses},"seq":{seq}}}')


def seal(draft: EntryDraft, seq: int, prev_hash: str, created_at: datetime | None = None) -> JournalEntry:
    """Validate `draft` and turn it into the chain's next entry."""
    return seal_all((draft,), seq, prev_hash, created_at)[0]


def seal_all(drafts: Iterable[EntryDraft], first_seq: int, prev_hash: str,
             created_at: datetime | None = None) -> list[JournalEntry]:
    """Validate `drafts` and seal them as consecutive entries from `first_seq`, each linked to
    the one before (the first to `prev_hash`), all stamped `created_at` (default: now).

    The same entries as sealing one draft at a time; a batch encodes its repeated values once.
    Every draft is validated before the first is sealed.
    """
    drafts = list(drafts)
    for draft in drafts:
        draft.validate()
    return list(sealing(drafts, first_seq, prev_hash, created_at))


def sealing(drafts: Iterable[EntryDraft], first_seq: int, prev_hash: str,
            created_at: datetime | None = None) -> Iterator[JournalEntry]:
    """`seal_all` one entry at a time, for drafts the caller has already validated.

    Lazy so that a writer can send each entry to the database as soon as it is hashed: the
    database server then stores one entry while the next is hashed.
    """
    created = created_at or utcnow()
    if created.tzinfo is None:
        raise ValueError("created_at must be timezone-aware (UTC)")
    created_iso = created.isoformat()
    days: dict[date, str] = {}
    sha256, new_entry = hashlib.sha256, tuple.__new__  # JournalEntry's own __new__, minus a call
    seq = first_seq
    for draft in drafts:
        booked = draft.booking_date
        try:
            booked_iso = days[booked]
        except KeyError:
            booked_iso = days[booked] = booked.isoformat()
        body = _body(seq, booked_iso, created_iso, draft.description, draft.event_key,
                     draft.loan_id, draft.reverses, draft.postings, draft.attests)
        digest = sha256((prev_hash + body).encode("utf-8")).hexdigest()
        yield new_entry(JournalEntry, (seq, booked, created, draft.description, draft.postings,
                                       draft.event_key, draft.loan_id, draft.reverses,
                                       prev_hash, digest, draft.attests))
        prev_hash = digest
        seq += 1


def attestation_draft(kind: str, ref: str, sha256: str, booking_date: date, description: str,
                      event_key: str | None = None) -> EntryDraft:
    """The validated draft of an entry attesting document (`kind`, `ref`) by its `sha256`."""
    return EntryDraft(booking_date, description, (), event_key,
                      attests=Attestation(kind, ref, sha256)).validate()


def replayed(entry: JournalEntry, draft: EntryDraft) -> JournalEntry:
    """`entry`, already posted under `draft`'s event key, if it records what `draft` would (a
    retry); otherwise `IdempotencyConflict`."""
    if ((entry.attests, entry.booking_date, entry.description, entry.loan_id, entry.postings,
         entry.reverses) != (draft.attests, draft.booking_date, draft.description, draft.loan_id,
                             tuple(draft.postings), draft.reverses)):
        raise IdempotencyConflict(f"event key {draft.event_key!r} was already posted as entry "
                                  f"{entry.seq} with other content")
    return entry


def verify_chain(entries: Iterable[JournalEntry], start_hash: str = GENESIS_HASH) -> int:
    """Check every link and every entry's balance; return how many entries were verified.

    Raises `TamperDetected` naming the first entry whose content, order or link is wrong.
    """
    prev, count, expected_seq = start_hash, 0, None
    for e in entries:
        if expected_seq is not None and e.seq != expected_seq:
            raise TamperDetected(f"entry seq {e.seq} follows {expected_seq - 1}: an entry is missing")
        if e.prev_hash != prev:
            raise TamperDetected(f"entry {e.seq} does not link to its predecessor")
        if entry_hash(prev, e.payload()) != e.hash:
            raise TamperDetected(f"entry {e.seq} was altered after it was posted")
        try:
            EntryDraft(e.booking_date, e.description, e.postings, attests=e.attests).validate()
        except UnbalancedEntry as exc:
            raise TamperDetected(f"entry {e.seq} no longer balances: {exc}") from exc
        except InvalidAttestation as exc:
            raise TamperDetected(f"entry {e.seq} is no longer a valid attestation: {exc}") from exc
        prev, count, expected_seq = e.hash, count + 1, e.seq + 1
    return count


def balances_of(postings: Iterable[Posting], loan_id: str | None = None) -> dict[tuple[str, str], int]:
    """Signed balance per (account, currency), optionally for one loan's sub-ledger; zeros dropped."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for p in postings:
        if loan_id is None or p.loan_id == loan_id:
            out[(p.account, p.currency)] += p.amount
    return {k: v for k, v in out.items() if v != 0}


class Journal:
    """An in-memory append-only journal (the store keeps the durable one with the same rules)."""

    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []

    @property
    def entries(self) -> Sequence[JournalEntry]:
        return tuple(self._entries)

    @property
    def head_hash(self) -> str:
        return self._entries[-1].hash if self._entries else GENESIS_HASH

    def post(self, draft: EntryDraft) -> JournalEntry:
        entry = seal(draft, len(self._entries) + 1, self.head_hash)
        self._entries.append(entry)
        return entry

    def post_all(self, drafts: Iterable[EntryDraft]) -> list[JournalEntry]:
        """Post several drafts atomically: all are validated before any is appended."""
        entries = seal_all(drafts, len(self._entries) + 1, self.head_hash)
        self._entries.extend(entries)
        return entries

    def reverse(self, seq: int, booking_date: date, description: str | None = None,
                event_key: str | None = None) -> JournalEntry:
        """Post the mirror image of entry `seq`; each entry can be reversed once."""
        if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= len(self._entries):
            raise UnknownEntry(f"there is no journal entry {seq!r} to reverse")
        original = self._entries[seq - 1]
        if original.attests is not None:
            raise InvalidAttestation(f"entry {seq} is an attestation and moves no money: attest "
                                     f"the document again to supersede it")
        if any(e.reverses == seq for e in self._entries):
            raise ImmutableEntry(f"entry {seq} has already been reversed")
        return self.post(EntryDraft(
            booking_date, description or f"reversal of entry {seq}",
            tuple(p.reversed() for p in original.postings), event_key, original.loan_id, seq))

    def attest(self, kind: str, ref: str, sha256: str, booking_date: date, description: str,
               event_key: str | None = None) -> JournalEntry:
        """Record document (`kind`, `ref`) by its SHA-256 on the chain, as an entry without
        postings.  A retry with the same event key and content returns the entry posted first;
        the same key with other content raises `IdempotencyConflict`."""
        draft = attestation_draft(kind, ref, sha256, booking_date, description, event_key)
        if event_key is not None:
            for entry in self._entries:
                if entry.event_key == event_key:
                    return replayed(entry, draft)
        return self.post(draft)

    def attestation(self, kind: str, ref: str) -> JournalEntry | None:
        """The latest entry attesting document (`kind`, `ref`), or None."""
        for entry in reversed(self._entries):
            a = entry.attests
            if a is not None and a.kind == kind and a.ref == ref:
                return entry
        return None

    def balances(self, loan_id: str | None = None) -> dict[tuple[str, str], int]:
        return balances_of((p for e in self._entries for p in e.postings), loan_id)

    def trial_balance(self) -> dict[str, int]:
        """Net of all postings per currency: zero for every currency in a sound ledger."""
        net: dict[str, int] = defaultdict(int)
        for (_, currency), amount in self.balances().items():
            net[currency] += amount
        return dict(net)

    def verify(self) -> int:
        return verify_chain(self._entries)
