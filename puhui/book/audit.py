"""Verifying the book's two chains and signing their heads: what an auditor checks.

The journal and the loan-event chain are re-hashed end to end; a checkpoint (the two heads
signed with the operator's Ed25519 key) is checked against them.  The files of keys and
checkpoints are the services' business (`puhui.services.checkpoints`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from puhui.errors import CheckpointError, TamperDetected
from puhui.ledger import checkpoint as cp
from puhui.ledger.checkpoint import ChainHead, Checkpoint
from puhui.store.ledger_repo import LedgerRepository
from puhui.book.close_record import CLOSE_RECORD, close_record, record_hash
from puhui.store.close_repo import CloseRepository
from puhui.store.loan_repo import LoanEventRepository


@dataclass(frozen=True, slots=True)
class BookVerification:
    """What a verification proved: both chains intact up to their heads, and (with a
    checkpoint) the checkpoint's heads still in them."""

    book_id: str
    journal: ChainHead
    events: ChainHead
    checkpoint: Checkpoint | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"book_id": self.book_id, "journal": self.journal.to_dict(),
                               "events": self.events.to_dict()}
        if self.checkpoint is not None:
            out["checkpoint"] = {"time": self.checkpoint.statement()["time"],
                                 "journal": self.checkpoint.journal.to_dict(),
                                 "events": self.checkpoint.events.to_dict(),
                                 "key_id": self.checkpoint.key_id}
        return out


def verify_book(session: Session, against: Checkpoint | None = None,
                public_key: Ed25519PublicKey | None = None) -> BookVerification:
    """Re-hash the journal and the loan-event chain end to end (each up to its head).

    With `against`: its signature must verify with `public_key` (the signer's, required), it
    must name this book, and each chain must still hold the checkpoint's entry at its seq with
    the checkpoint's hash.  Raises `CheckpointError` for a checkpoint that cannot be trusted or
    is another book's, `TamperDetected` for a chain that was edited, cut or rewritten.
    """
    if against is not None:
        if public_key is None:
            raise CheckpointError("a checkpoint is checked with its signer's public key: "
                                  "give the public key")
        against.verify_signature(public_key)
    ledger, events = LedgerRepository(session), LoanEventRepository(session)
    book_id = ledger.book_id()
    if against is not None and against.book_id != book_id:
        raise CheckpointError(f"the checkpoint is of book {against.book_id}, not of this book "
                              f"({book_id})")
    entries, entry_at = ledger.verify_at(None if against is None else against.journal.seq)
    count, event_at = events.verify_events(None if against is None else against.events.seq)
    journal = ChainHead(entries, ledger.head()[1])
    chain = ChainHead(count, events.events_head()[1])
    if against is not None:
        _still_holds("journal", "entries", against.journal, entries, entry_at)
        _still_holds("loan event chain", "events", against.events, count, event_at)
    verify_close_records(session)
    return BookVerification(book_id, journal, chain, against)


def _still_holds(name: str, what: str, signed: ChainHead, length: int, found: str | None) -> None:
    if signed.seq == 0:
        return  # the empty chain is a prefix of every chain
    if length < signed.seq:
        raise TamperDetected(f"the {name} has {length} {what} but the checkpoint signed "
                             f"{signed.seq}: {what} were cut off after the checkpoint")
    if found != signed.hash:
        raise TamperDetected(f"{what[:-1]} {signed.seq} of the {name} is not the one the "
                             f"checkpoint signed: the {name} was rewritten up to there")


def checkpoint_book(session: Session, private_key: Ed25519PrivateKey,
                    at: datetime) -> Checkpoint:
    """Verify the book, then sign its two chain heads as they were verified (a tampered book is
    never vouched for: `TamperDetected` is raised instead)."""
    verified = verify_book(session)
    return cp.sign(verified.book_id, verified.journal, verified.events, private_key, at)


def verify_close_records(session: Session) -> int:
    """Check every close record against its attestation on the journal; return how many.

    Raises `TamperDetected` for a record whose content no longer hashes to what the journal
    attests (its chain position, range or failures edited) or that the journal never attested
    (inserted behind the book's back)."""
    ledger = LedgerRepository(session)
    attested = ledger.attested(CLOSE_RECORD)
    seen: dict[tuple[date, str], int] = {}
    count = 0
    for day, lo, hi, seq, loans, plain, failures in CloseRepository(session).records():
        n = seen.get((day, lo), 0)
        seen[(day, lo)] = n + 1
        ref = f"{day}:{lo}:{n}"
        digest = record_hash(close_record(day, lo, hi, seq, loans, plain, failures))
        if attested.get(ref) != digest:
            raise TamperDetected(f"the record of the close of {day} for loans {lo}..{hi} is not "
                                 "the one the journal attests: it was edited or inserted")
        count += 1
    return count


__all__ = ["BookVerification", "checkpoint_book", "verify_book", "verify_close_records"]
