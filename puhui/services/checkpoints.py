"""Verify the whole book, and sign and check checkpoints of its chain heads.

The book keeps two hash chains: the journal and the loan events.  `verify_book` re-hashes both in
one streaming pass each; with a signed checkpoint (`puhui.ledger.checkpoint`) it also proves the
book still holds the exact prefix the checkpoint signed, which is what catches a tail cut off
both a chain and its head.  Key and checkpoint files are read and written here, so the domain
module stays pure.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from puhui.errors import CheckpointError
from puhui.ledger import checkpoint as cp
from puhui.ledger.checkpoint import Checkpoint
from puhui.store.ledger_repo import LedgerRepository
from puhui.book.audit import BookVerification, checkpoint_book, verify_book  # noqa: F401  (the API's and the CLI's)

#: The largest key or checkpoint file read (a real one is well under 1 KiB).
MAX_FILE_BYTES = 64 * 1024


def trial_balance(session: Session) -> dict[str, int]:
    """The ledger's net of all postings per currency (fen): zero for every currency in a
    sound ledger."""
    return LedgerRepository(session).trial_balance()


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
