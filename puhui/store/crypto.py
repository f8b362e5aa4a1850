"""Encryption of personal data at rest: a keyring of AES-256-GCM master keys, per-applicant
data keys, and keyed hashes for look-ups.

Why this shape:

- Every applicant gets a data key of its own (32 random bytes).  Its personal fields (the
  applicant record, bound cards, contract text, payee details) are sealed under that key, and
  the key itself is stored only wrapped under the keyring's active master key.  Destroying the
  wrapped key (erasure) makes every copy of that applicant's ciphertext unreadable at once,
  including copies in append-only tables, the SQLite WAL and backups: crypto-shredding.
- A wrapped key names the master key it was wrapped with (``k1:v1:<key id>:<base64>``), so
  master keys rotate: a new active key wraps new data keys, old keys stay in the ring to unwrap
  old ones, and `rotate` re-wraps every stored data key under the new one (after which the old
  master key may be retired).
- Look-ups and duplicate checks use an HMAC-SHA256 of the normalised number under a separate
  look-up key, never the number: a leaked database does not give the numbers away, and a
  dictionary of all 18-digit IDs cannot be hashed without the key.
- Keys never live in the database: `PUHUI_DATA_KEYS` (the key file's JSON text) or the key file
  (`PUHUI_KEY_FILE`, default next to the SQLite database, else ``var/puhui-keys.json``), created
  at first run with mode 0600.

AES-GCM costs microseconds per field, so the request path pays almost nothing for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from weakref import WeakKeyDictionary

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from puhui.errors import KeyMissing, KeyringError, SealBroken  # noqa: F401  (raised here)


KEYS_ENV = "PUHUI_DATA_KEYS"
KEY_FILE_ENV = "PUHUI_KEY_FILE"
DEFAULT_KEY_FILE = Path("var") / "puhui-keys.json"
#: Prefix of a data key wrapped under a master key; the key id follows.
WRAPPED = "k1:v1:"
#: Prefix of a field sealed under an applicant's data key.
SEALED = "p1:"
_NONCE = 12


@lru_cache(maxsize=8192)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE)
    return _b64(nonce + _aead(key).encrypt(nonce, plaintext, aad))


def _open(key: bytes, token: str, aad: bytes) -> bytes:
    try:
        raw = _unb64(token)
        return _aead(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except (InvalidTag, ValueError):  # ValueError: not base64 at all, also an altered value
        raise SealBroken("ciphertext does not authenticate (tampered, moved, or the wrong key)") \
            from None


@dataclass(frozen=True, eq=False)
class Keyring:
    """Master keys by id, the active one, and the separate look-up (HMAC) key.  Compared and
    hashed by identity, so unwrapped keys are cached per keyring."""

    keys: Mapping[str, bytes]
    active: str
    lookup: bytes
    #: Where the ring was read from (a key file), to re-read when a key id is missing: another
    #: process may have rotated.
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"the active key {self.active!r} is not in the keyring")
        for kid, key in self.keys.items():
            if len(key) != 32 or not kid or ":" in kid:
                raise KeyringError(f"key {kid!r} must be 32 bytes (AES-256) with an id free of ':'")
        if len(self.lookup) < 32:
            raise KeyringError("the look-up key must be at least 32 bytes")

    # -- data keys --------------------------------------------------------------------------------
    def wrap(self, data_key: bytes, owner: str) -> str:
        """`data_key` sealed under the active master key, bound to `owner` (an applicant id)."""
        return f"{WRAPPED}{self.active}:{_seal(self.keys[self.active], data_key, owner.encode())}"

    def unwrap(self, wrapped: str, owner: str) -> bytes:
        if self.key_id(wrapped) not in self.keys and self.source is not None:
            return _reread(self.source).unwrap(wrapped, owner)  # rotated by another process
        return _unwrap(self, wrapped, owner)

    @staticmethod
    def key_id(wrapped: str) -> str:
        """The id of the master key `wrapped` was wrapped with."""
        if not wrapped.startswith(WRAPPED):
            raise KeyringError("not a wrapped data key")
        return wrapped[len(WRAPPED):].split(":", 1)[0]

    def rewrap(self, wrapped: str, owner: str) -> str:
        """The same data key wrapped under the active master key (rotation)."""
        return self.wrap(self.unwrap(wrapped, owner), owner)

    # -- look-ups ---------------------------------------------------------------------------------
    def lookup_hash(self, kind: str, normalised: str) -> str:
        """HMAC-SHA256 of ``"<kind>:<normalised number>"`` under the look-up key, in hex."""
        return hmac.new(self.lookup, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()

    # -- (de)serialisation ------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"active": self.active, "lookup": _b64(self.lookup),
                           "keys": {k: _b64(v) for k, v in self.keys.items()}}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Keyring":
        try:
            d = json.loads(text)
            return cls({k: _unb64(v) for k, v in d["keys"].items()}, d["active"],
                       _unb64(d["lookup"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"malformed keyring: {exc}") from None

    @classmethod
    def generate(cls) -> "Keyring":
        return cls({"m1": secrets.token_bytes(32)}, "m1", secrets.token_bytes(32))

    def with_new_active(self) -> "Keyring":
        """This ring with a fresh active master key (the old ones kept for unwrapping)."""
        n = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        kid = f"m{n}"
        return Keyring({**self.keys, kid: secrets.token_bytes(32)}, kid, self.lookup,
                       self.source)


@lru_cache(maxsize=16384)
def _unwrap(ring: Keyring, wrapped: str, owner: str) -> bytes:
    kid = Keyring.key_id(wrapped)
    key = ring.keys.get(kid)
    if key is None:
        raise KeyMissing(kid)
    try:
        return _open(key, wrapped[len(WRAPPED) + len(kid) + 1:], owner.encode())
    except SealBroken:
        raise SealBroken(f"the data key of {owner!r} wrapped under master key {kid!r} does not "
                         "authenticate (altered, moved, or that id holds another key)") from None


def new_data_key() -> bytes:
    return secrets.token_bytes(32)


def seal(data_key: bytes, plaintext: str, context: str) -> str:
    """`plaintext` sealed under an applicant's data key; `context` (table and row) is bound in,
    so a ciphertext moved to another row does not open."""
    return SEALED + _seal(data_key, plaintext.encode("utf-8"), context.encode())


def open_sealed(data_key: bytes, token: str, context: str) -> str:
    if not token.startswith(SEALED):
        raise KeyringError("not a sealed field")
    return _open(data_key, token[len(SEALED):], context.encode()).decode("utf-8")


def is_sealed(value: str | None) -> bool:
    return bool(value) and value.startswith(SEALED)  # type: ignore[union-attr]


# -- where the keys come from ---------------------------------------------------------------------
_LOCK = threading.Lock()
_RINGS: dict[str, Keyring] = {}
#: Rings by (database URL, environment): the per-request path, with no file system call.
_FAST: dict[tuple[str, str, str], Keyring] = {}
_BY_ENGINE: "WeakKeyDictionary[Engine, tuple[tuple[str, str], Keyring]]" = WeakKeyDictionary()


def key_file_for(url: str | URL) -> Path:
    """`PUHUI_KEY_FILE`, else beside a SQLite database file, else ``var/puhui-keys.json``."""
    explicit = os.environ.get(KEY_FILE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database).expanduser()
        return db.with_name(db.name + ".keys.json")
    return DEFAULT_KEY_FILE


def _from_file(path: Path) -> Keyring:
    ring = Keyring.from_json(path.read_text())
    return Keyring(ring.keys, ring.active, ring.lookup, path)


def _read_or_create(path: Path) -> Keyring:
    """The key file at `path`, created (mode 0600, never overwritten) when absent."""
    try:
        return _from_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    ring = Keyring.generate()
    # written whole under a private name, then linked into place: a process that finds the key
    # file never reads it half-written, and a second creator keeps the first one's keys
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ring.to_json())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process created it first: use theirs
            return _from_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    return Keyring(ring.keys, ring.active, ring.lookup, path)


def _reread(path: Path) -> Keyring:
    """The key file read again (no further re-reading: a key still missing is an error)."""
    ring = _from_file(path)
    with _LOCK:
        _RINGS["file:" + str(path.resolve())] = ring
        _FAST.clear()
        _BY_ENGINE.clear()
    return Keyring(ring.keys, ring.active, ring.lookup, None)


def keyring_for(url: str | URL) -> Keyring:
    """The keyring of the database at `url` (`PUHUI_DATA_KEYS`, else its key file), cached."""
    env = os.environ.get(KEYS_ENV, "").strip()
    fast = (str(url), env, os.environ.get(KEY_FILE_ENV, ""))
    ring = _FAST.get(fast)
    if ring is not None:
        return ring
    if env:
        cache_key = "env:" + hashlib.sha256(env.encode()).hexdigest()
    else:
        cache_key = "file:" + str(key_file_for(url).resolve())
    ring = _RINGS.get(cache_key)
    if ring is None:
        with _LOCK:
            ring = _RINGS.get(cache_key)
            if ring is None:
                ring = Keyring.from_json(env) if env else _read_or_create(key_file_for(url))
                _RINGS[cache_key] = ring
    _FAST[fast] = ring
    return ring


def keyring_of(bind: Session | Connection | Engine) -> Keyring:
    """The keyring of the database `bind` works on (cached per engine: this is on every
    request's path)."""
    if isinstance(bind, Session):
        bind = bind.bind if bind.bind is not None else bind.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    env = (os.environ.get(KEYS_ENV, ""), os.environ.get(KEY_FILE_ENV, ""))
    known = _BY_ENGINE.get(engine)
    if known is not None and known[0] == env:
        return known[1]
    ring = keyring_for(engine.url)
    _BY_ENGINE[engine] = (env, ring)
    return ring


def save_keyring(url: str | URL, ring: Keyring) -> Path:
    """Replace the key file of `url` with `ring` (rotation); refused when keys come from the
    environment, whose owner must update it."""
    if os.environ.get(KEYS_ENV, "").strip():
        raise KeyringError(f"keys come from {KEYS_ENV}: set it to the new keyring instead")
    path = key_file_for(url)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(ring.to_json())
    os.replace(tmp, path)
    with _LOCK:
        _RINGS["file:" + str(path.resolve())] = Keyring(ring.keys, ring.active, ring.lookup, path)
        _FAST.clear()
        _BY_ENGINE.clear()
    return path


def context(table: str, row_id: str) -> str:
    """What a sealed field is bound to: its table and row (a copy moved elsewhere won't open)."""
    return f"{table}:{row_id}"


def describe(ring: Keyring) -> dict[str, Any]:
    """What may be shown about a keyring: ids only."""
    return {"active": ring.active, "keys": sorted(ring.keys)}
