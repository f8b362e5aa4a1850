"""Field checks and (de)serialisation helpers shared by the records of parties, decisions and
origination.

Why one place: every record is built from API input or from a stored JSON document, and each must
refuse the same mistakes (naive timestamps, floats for money, a `datetime` where a `date` belongs)
with the same kind of error, `InvalidApplication`, naming the field that is wrong.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from puhui.errors import InvalidApplication


def utc(value: object, what: str) -> datetime:
    """`value` as a UTC datetime; naive datetimes are refused, not guessed."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidApplication(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(timezone.utc)


def day(value: object, what: str) -> date:
    """A calendar date; a datetime is refused because it hides a time zone question."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidApplication(f"{what} must be a date, got {value!r}")
    return value


def text(value: object, what: str, *, max_len: int | None = None, required: bool = True) -> str:
    """Text stripped of surrounding white space; `required` text may not be blank."""
    if not isinstance(value, str):
        raise InvalidApplication(f"{what} must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise InvalidApplication(f"{what} must not be blank")
    if max_len is not None and len(value) > max_len:
        raise InvalidApplication(f"{what} is longer than {max_len} characters")
    return value


def fen(value: object, what: str, *, minimum: int = 0) -> int:
    """A whole number of fen (an int, never a bool, float or Decimal)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidApplication(f"{what} must be a whole number of fen (int), got {value!r}")
    if value < minimum:
        raise InvalidApplication(f"{what} must be at least {minimum}, got {value}")
    return value


def iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_utc(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidApplication(f"{what} must be an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidApplication(f"{what} is not an ISO 8601 timestamp: {value!r}") from None
    return utc(parsed, what)


def parse_day(value: object, what: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise InvalidApplication(f"{what} must be an ISO date string (YYYY-MM-DD), got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidApplication(f"{what} is not a date: {value!r}") from None


def mapping(data: object, what: str, required: Iterable[str], optional: Iterable[str] = ()
            ) -> Mapping[str, Any]:
    """`data` checked to be a mapping with every required key and no unknown key."""
    if not isinstance(data, Mapping):
        raise InvalidApplication(f"{what} must be a mapping, got {type(data).__name__}")
    required = tuple(required)
    missing = [k for k in required if k not in data]
    if missing:
        raise InvalidApplication(f"{what} is missing {missing}")
    unknown = set(data) - set(required) - set(optional)
    if unknown:
        raise InvalidApplication(f"{what} has unknown fields {sorted(unknown)}")
    return data


def typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """`data[key]` checked to be of `kind` (bools are not ints)."""
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise InvalidApplication(f"{what}.{key} has the wrong type: {value!r}")
    return value
