"""JSON text as the platform stores it and answers with it: compact, non-ASCII kept as is.

An application's request encodes a dozen documents (its offer with the full schedule, the
decision, each history entry's detail, the response); with the standard library's encoder that
was about a tenth of the request's CPU, with orjson about a fiftieth.  Values orjson would encode
differently from `json` or refuse (datetimes and dataclasses, which `json` refuses too; integers
beyond 64 bits; keys that are not text) go to the standard encoder, so what is accepted and how
it reads back is the same either way, but for NaN and infinity: JSON has no such numbers, and
they are written as null (the standard encoder writes a `NaN` no other JSON reader accepts).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_SORTED = _STRICT | orjson.OPT_SORT_KEYS


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """`value` as compact JSON text; `sort_keys` for stored documents that are compared or
    hashed as text."""
    try:
        return orjson.dumps(value, option=_SORTED if sort_keys else _STRICT).decode()
    except TypeError:  # orjson.JSONEncodeError: let the standard encoder accept or explain it
        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
