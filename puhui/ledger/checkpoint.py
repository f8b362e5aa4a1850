"""Signed checkpoints of the book's chain heads (RFC 9162's signed tree heads, for hash chains).

A hash chain shows any edit of what it holds, but not that its tail was cut off and its head
moved back: what is left is still a valid chain.  A checkpoint is the operator's signed statement
"at time T, book B's journal had N entries ending in hash H, and its loan-event chain M events
ending in hash G".  Kept outside the database, it lets `verify` prove later that the book still
holds that exact prefix: the entry at N must still hash to H (which, the chain being intact,
vouches for every entry before it), so a book truncated or rewritten at or before N fails.

Keys are Ed25519 (the `cryptography` package).  The signature covers the checkpoint's canonical
bytes: its JSON without "signature", with sorted keys and no spaces, in UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from puhui.errors import CheckpointError

FORMAT = "puhui-checkpoint/1"
_HASH = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain ends: the seq of its last link (its length) and that link's hash."""

    seq: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of a book's two chain heads at one time."""

    book_id: str
    journal: ChainHead
    events: ChainHead
    time: datetime
    key_id: str
    signature: str = ""  # base64 of the Ed25519 signature over `signed_bytes()`

    def statement(self) -> dict[str, Any]:
        """Everything the signature covers.  The chains' counts equal their head seqs, since
        both are numbered from 1 without gaps (verify checks that), and are stated besides so
        that a reader need not know it."""
        return {"format": FORMAT, "book_id": self.book_id,
                "journal": {**self.journal.to_dict(), "entries": self.journal.seq},
                "events": {**self.events.to_dict(), "entries": self.events.seq},
                "time": self.time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                "key_id": self.key_id}

    def signed_bytes(self) -> bytes:
        return canonical(self.statement())

    def to_json(self) -> str:
        return json.dumps({**self.statement(), "signature": self.signature}, indent=2,
                          sort_keys=True) + "\n"

    def verify_signature(self, public_key: Ed25519PublicKey) -> None:
        """Raise `CheckpointError` unless `public_key` is the signer's and the signature holds."""
        if key_id(public_key) != self.key_id:
            raise CheckpointError(f"the checkpoint was signed by key {self.key_id}, not by the "
                                  f"given public key {key_id(public_key)}")
        try:
            public_key.verify(base64.b64decode(self.signature, validate=True),
                              self.signed_bytes())
        except (InvalidSignature, binascii.Error, ValueError):
            raise CheckpointError("the checkpoint's signature does not verify: it was altered "
                                  "or not signed by this key") from None


def canonical(value: Any) -> bytes:
    """Sorted-key, compact JSON in UTF-8: the one byte form a signature is made over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the signer."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(book_id: str, journal: ChainHead, events: ChainHead, private_key: Ed25519PrivateKey,
         at: datetime) -> Checkpoint:
    """The checkpoint of `journal` and `events` for `book_id` at `at` (UTC), signed."""
    if at.tzinfo is None:
        raise ValueError("a checkpoint's time must be timezone-aware (UTC)")
    at = at.astimezone(timezone.utc)
    unsigned = Checkpoint(book_id, journal, events, at, key_id(private_key.public_key()))
    signature = base64.b64encode(private_key.sign(unsigned.signed_bytes())).decode("ascii")
    return Checkpoint(book_id, journal, events, at, unsigned.key_id, signature)


def parse(text: str) -> Checkpoint:
    """A checkpoint from its JSON; `CheckpointError` names what is malformed.  The signature is
    not checked here (see `Checkpoint.verify_signature`)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CheckpointError(f"the checkpoint is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError("the checkpoint must be a JSON object")
    if data.get("format") != FORMAT:
        raise CheckpointError(f"unknown checkpoint format {data.get('format')!r}; "
                              f"expected {FORMAT!r}")
    book_id, kid, signature = data.get("book_id"), data.get("key_id"), data.get("signature")
    if not isinstance(book_id, str) or not 0 < len(book_id) <= 64:
        raise CheckpointError("the checkpoint's book_id is missing or malformed")
    if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
        raise CheckpointError("the checkpoint's key_id is missing or malformed")
    if not isinstance(signature, str) or not signature:
        raise CheckpointError("the checkpoint is not signed")
    try:
        at = datetime.fromisoformat(str(data.get("time")).replace("Z", "+00:00"))
    except ValueError:
        raise CheckpointError(f"the checkpoint's time {data.get('time')!r} is not ISO 8601") \
            from None
    if at.tzinfo is None:
        raise CheckpointError("the checkpoint's time has no time zone")
    checkpoint = Checkpoint(book_id, _head(data, "journal"), _head(data, "events"), at, kid,
                            signature)
    unknown = set(data) - set(checkpoint.statement()) - {"signature"}
    if unknown:  # a field the signature would not cover must not be believed either
        raise CheckpointError(f"the checkpoint has fields it should not: {sorted(unknown)}")
    return checkpoint


def _head(data: dict[str, Any], name: str) -> ChainHead:
    part = data.get(name)
    if not isinstance(part, dict) or set(part) != {"seq", "hash", "entries"}:
        raise CheckpointError(f"the checkpoint's {name} head must have seq, hash and entries")
    seq, digest, entries = part["seq"], part["hash"], part["entries"]
    if type(seq) is not int or seq < 0 or entries != seq or type(entries) is not int:
        raise CheckpointError(f"the checkpoint's {name} seq must be a count (>= 0) equal to "
                              f"its entries")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise CheckpointError(f"the checkpoint's {name} hash must be 64 lowercase hex digits")
    return ChainHead(seq, digest)


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM `pem` (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise CheckpointError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError("not an Ed25519 public key")
    return key


def private_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key in unencrypted PEM `pem` (PKCS#8)."""
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError("not an Ed25519 private key")
    return key


def new_key_pair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (PKCS#8 PEM private key, SubjectPublicKeyInfo PEM public key)."""
    key = Ed25519PrivateKey.generate()
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo))
