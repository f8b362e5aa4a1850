"""How a data-source payload is packed for storage and given back byte for byte.

Why this shape: a payload is evidence, so what is read back must be exactly the bytes received
(their SHA-256 is kept beside them and checked on every read), yet an application's seven
payloads are about 0.55 MB of JSON, and a million applications cannot keep 550 GB of it.

- **Columns first.**  A payload is `{"business_id", "as_of", "records": [{...}, ...]}` with
  thousands of records of one shape.  When its bytes are the canonical JSON of their own
  parse (sorted keys, no spaces, UTF-8, as `services.data.canonical_text` writes them) and
  every record is an object with the same keys, it is packed as
  ``[1, envelope, keys, columns]``: each key written once and each field's values side by side,
  which a compressor packs far better than rows (0.55 MB -> ~41 kB per application with zstd,
  against ~60 kB for the rows compressed as they are).  Packing checks that the bytes are the
  canonical form of their parse, which is what makes unpacking give the very same bytes back
  (`to_columns` says why; it costs a third of unpacking them to compare); any payload that does
  not fit (other JSON, a non-canonical text, integers beyond 64 bits, records of mixed shapes,
  not JSON at all) is kept as its raw bytes, compressed.
- **zstd** (the `zstandard` package) at level 1: on these payloads it is both smaller and about
  three times faster than zlib at its default level 6.  Where `zstandard` is not installed,
  zlib (standard library) is used, and the row says which: every row names its codec, so rows
  written either way stay readable (a `zstd` row needs `zstandard` to be read).

Codecs (`source_payloads.payload_codec`): ``cols+zstd``, ``cols+zlib`` (columns, compressed),
``zstd``, ``zlib`` (the raw bytes, compressed).  A row without a codec was stored before
revision 0013 as plain text in `payload`.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from typing import Any

import orjson

from puhui.risk.errors import PayloadTampered, RiskDataError

ZSTD_LEVEL = 1
ZLIB_LEVEL = 6
_COLUMNS_FORMAT = 1
_SORTED = orjson.OPT_SORT_KEYS
CODECS = ("cols+zstd", "cols+zlib", "zstd", "zlib")


def _zstd() -> Any | None:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    return zstandard


def default_compression() -> str:
    """``zstd`` when the `zstandard` package is installed, else ``zlib``."""
    return "zstd" if _zstd() is not None else "zlib"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- columns --------------------------------------------------------------------------------------
_UNPARSED: Any = object()


def to_columns(data: bytes, parsed: Any = _UNPARSED) -> bytes | None:
    """`data` as ``[1, envelope, keys, columns]`` JSON, or None when it is not a canonical
    records payload that unpacks to exactly the same bytes.

    `parsed` is `orjson.loads(data)` when the caller already has it (a connector parses what it
    receives): it saves parsing again, and is trusted only as far as `data` is its canonical
    form, checked here.  That check is what makes the columns unpack to exactly `data` without
    unpacking them to see: `from_columns` rebuilds records equal as JSON values to those
    parsed, with the same keys, and writes them in the same canonical form (orjson writes a
    value it has read back as the same text).  `tests/store/test_store_payload_codec.py` checks
    the round trip on arbitrary JSON and bytes."""
    if not data.startswith(b"{"):
        return None
    try:
        payload = orjson.loads(data) if parsed is _UNPARSED else parsed
        if not isinstance(payload, dict):
            return None
        records = payload.get("records")
        if not isinstance(records, list) or not records:
            return None
        first = records[0]
        if not isinstance(first, dict) or not first:
            return None
        keys = sorted(first)
        # every record holds each of the first's keys (a KeyError otherwise) and no other
        # (the same number of keys), so every record has the same keys
        columns = [[r[k] for r in records] for k in keys]
        if sum(map(len, records)) != len(keys) * len(records):
            return None
        if orjson.dumps(payload, option=_SORTED) != data:  # not canonical: would not come back
            return None
        envelope = {k: v for k, v in payload.items() if k != "records"}
        return orjson.dumps([_COLUMNS_FORMAT, envelope, keys, columns])
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, KeyError):
        return None


def from_columns(packed: bytes) -> bytes:
    """The canonical JSON bytes that `packed` was made from."""
    try:
        version, envelope, keys, columns = orjson.loads(packed)
        if version != _COLUMNS_FORMAT or not isinstance(envelope, dict):
            raise ValueError(f"unknown columns format {version!r}")
        if len(keys) != len(columns) or len({len(c) for c in columns}) > 1:
            raise ValueError("columns of different lengths")
        envelope["records"] = [dict(zip(keys, row)) for row in zip(*columns)]
        return orjson.dumps(envelope, option=_SORTED)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, ValueError, TypeError) as exc:
        raise PayloadTampered(f"stored payload columns do not unpack: {exc}") from None


# -- compression ----------------------------------------------------------------------------------
_CODERS = threading.local()  # one compressor per thread: making one costs ten small payloads


def _compressor(zstd: Any) -> Any:
    made = getattr(_CODERS, "zstd", None)
    if made is None:
        made = _CODERS.zstd = zstd.ZstdCompressor(level=ZSTD_LEVEL)
    return made


def _compress(data: bytes, method: str) -> bytes:
    if method == "zstd":
        zstd = _zstd()
        if zstd is None:
            raise RiskDataError("the zstd codec needs the 'zstandard' package")
        return _compressor(zstd).compress(data)
    if method == "zlib":
        return zlib.compress(data, ZLIB_LEVEL)
    raise RiskDataError(f"unknown payload compression {method!r}")


def _decompress(blob: bytes, method: str) -> bytes:
    if method == "zstd":
        zstd = _zstd()
        if zstd is None:
            raise RiskDataError("this payload is zstd-compressed: install the 'zstandard' "
                                "package to read it")
        try:
            return zstd.ZstdDecompressor().decompress(blob)
        except zstd.ZstdError as exc:
            raise PayloadTampered(f"stored payload does not decompress: {exc}") from None
    if method == "zlib":
        try:
            return zlib.decompress(blob)
        except zlib.error as exc:
            raise PayloadTampered(f"stored payload does not decompress: {exc}") from None
    raise PayloadTampered(f"unknown payload compression {method!r}")


# -- the two operations ---------------------------------------------------------------------------
def pack(data: bytes, compression: str | None = None,
         parsed: Any = _UNPARSED) -> tuple[str, bytes]:
    """(codec, blob) storing `data` (bytes as received): columns when they fit, compressed with
    `compression` (``zstd`` or ``zlib``; default `default_compression()`).  `parsed`:
    `orjson.loads(data)` when the caller already has it (see `to_columns`)."""
    method = compression or default_compression()
    columns = to_columns(data, parsed)
    if columns is not None:
        return f"cols+{method}", _compress(columns, method)
    return method, _compress(data, method)


def unpack(codec: str, blob: bytes) -> bytes:
    """The bytes stored as (`codec`, `blob`); `PayloadTampered` when they cannot be."""
    layout, _, method = codec.rpartition("+")
    if layout not in ("", "cols") or codec not in CODECS:
        raise PayloadTampered(f"unknown payload codec {codec!r}")
    data = _decompress(bytes(blob), method)
    return from_columns(data) if layout == "cols" else data


def checked(data: bytes, sha256: str, what: str) -> bytes:
    """`data` if it hashes to `sha256`; `PayloadTampered` naming `what` otherwise."""
    if sha256_hex(data) != sha256:
        raise PayloadTampered(f"{what} does not match its sha256 (altered since it was stored)")
    return data
