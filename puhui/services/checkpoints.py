"""Verify the whole book, and sign and check checkpoints of its chain heads.

The book keeps two hash chains: the journal and the loan events.  `verify_book` re-hashes both in
one streaming pass each; with a signed checkpoint (`puhui.ledger.checkpoint`) it also proves the
book still holds the exact prefix the checkpoint signed, which is what catches a tail cut off
both a chain and its head.  Key and checkpoint files are read and written here, so the domain
module stays pure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from puhui.errors import CheckpointError, TamperDetected
from puhui.ledger import checkpoint as cp
from puhui.ledger.checkpoint import ChainHead, Checkpoint
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository

#: The largest key or checkpoint file read (a real one is well under 1 KiB).
MAX_FILE_BYTES = 64 * 1024


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


def trial_balance(session: Session) -> dict[str, int]:
    """The ledger's net of all postings per currency (fen): zero for every currency in a
    sound ledger."""
    return LedgerRepository(session).trial_balance()


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


# -- files ------------------------------------------------------------------------------------
def read_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint stored at `path` (its signature is checked by `verify_book`)."""
    return cp.parse(_read(path, "checkpoint").decode("utf-8", errors="replace"))


def write_checkpoint(checkpoint: Checkpoint, path: str | Path) -> None:
    """Store `checkpoint` at `path`, a new file: an existing one is never replaced."""
    try:
        with open(path, "x", encoding="utf-8") as out:
            out.write(checkpoint.to_json())
    except FileExistsError:
        raise CheckpointError(f"{path} exists; checkpoints are never overwritten") from None
    except OSError as exc:
        raise CheckpointError(f"cannot write {path}: {exc.strerror}") from None


def generate_key_files(private_path: str | Path, public_path: str | Path) -> str:
    """Make a new Ed25519 key pair; return its key id.  The private key file is created with
    mode 0600 (never readable by others, whatever the umask), the public one as usual; neither
    replaces an existing file."""
    private_pem, public_pem = cp.new_key_pair()
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise CheckpointError(f"{path} exists; keys are never overwritten")
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_pem)
        os.chmod(private_path, 0o600)
        with open(public_path, "xb") as out:
            out.write(public_pem)
    except OSError as exc:
        raise CheckpointError(f"cannot write the key pair: {exc}") from None
    return cp.key_id(cp.public_key_from_pem(public_pem))


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file `path`; refused if others may read or write it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise CheckpointError(f"cannot read the private key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise CheckpointError(f"the private key {path} is open to others (mode "
                              f"{mode & 0o777:o}); chmod 600 it")
    return cp.private_key_from_pem(_read(path, "private key"))


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file `path`."""
    return cp.public_key_from_pem(_read(path, "public key"))


def _read(path: str | Path, what: str) -> bytes:
    try:
        with open(path, "rb") as src:
            data = src.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CheckpointError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CheckpointError(f"the {what} {path} is larger than {MAX_FILE_BYTES} bytes")
    return data
