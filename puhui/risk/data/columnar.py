"""Validating a source's records column by column: each field read once over the whole payload.

Why: the live path receives a few thousand records per application (orders, waybills, app
events).  Validating them one pydantic model at a time costs a Python call per date and per
cross-field rule of every record (~20 ms per application); reading each field into a list and
checking it with C-level built-ins (`set(map(type, ...))`, `min`/`max`, one date parse per
distinct value, a set of the characters of all hashes joined) costs a small fraction of that.
(A Polars frame built from the records costs more than these checks together, and would still
need exact type checks of its own: Polars reads `12.0` or `True` into an integer column.)

The contract: `columns(scope, payload)` either proves the payload valid under every rule of
`records` and `payload` (strict types, no unknown or missing field, ranges, patterns, the
cross-field rules, nothing dated after `as_of`) and returns its values, or returns None.  None
means "not proven", not "invalid": the per-record models (`payload.parse_payload`'s reference
path) then decide, and name the first problem by source, record index and field exactly as
they always have.  So the fast path can only be too strict, never too lenient, and every
refusal reads the same; tests/risk/data/test_risk_columnar.py checks both on random payloads.

The values returned are those the record models would hold: dates as `date`, timestamps as
UTC `datetime`, everything else as received.  The bureau's report (one per payload, with
nested lists) is left to the models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from itertools import compress
from operator import add, attrgetter, ge, gt, itemgetter, methodcaller
from typing import Any

from puhui.parties.consent import DataScope
from puhui.risk.data.records import APP_EVENT_TYPES, _month, month_end

Columns = dict[str, list]
_NONE = type(None)
_HEX, _DIGITS = b"0123456789abcdef", b"0123456789"
_ENVELOPE = frozenset({"business_id", "as_of", "records"})


_ABSENT = object()  # an optional field left out of a record


class _Unproven(Exception):
    """The fast path cannot prove this payload valid (the models decide)."""


def _types(values: list, allowed: frozenset[type]) -> None:
    if not set(map(type, values)) <= allowed:
        raise _Unproven


_STR, _INT, _BOOL = frozenset({str}), frozenset({int}), frozenset({bool})
_STR_OR_NONE = frozenset({str, _NONE})


# -- field kinds: each checks a column and returns the values the model would hold ----------------
def _ints(lo: int | None = None, hi: int | None = None, low_open: bool = False,
          nonzero: bool = False) -> Callable[[list], list]:
    def check(values: list) -> list:
        _types(values, _INT)  # exactly int: not bool, not float, not a numeric string
        if values:
            least = min(values)
            if lo is not None and (least <= lo if low_open else least < lo):
                raise _Unproven
            if hi is not None and max(values) > hi:
                raise _Unproven
            if nonzero and 0 in values:
                raise _Unproven
        return values
    return check


def _bools(values: list) -> list:
    _types(values, _BOOL)
    return values


def _choice(options: tuple[str, ...]) -> Callable[[list], list]:
    allowed = frozenset(options)

    def check(values: list) -> list:
        _types(values, _STR)
        if not set(values) <= allowed:
            raise _Unproven
        return values
    return check


def _lengths(values: list, least: int, most: int) -> None:
    """Every value a str of `least` to `most` characters."""
    _types(values, _STR)
    lengths = set(map(len, values))
    if lengths and (min(lengths) < least or max(lengths) > most):
        raise _Unproven


def _only(values: list, characters: bytes) -> None:
    """Every character of every value (already known to be str) one of `characters`."""
    joined = "".join(values)
    if not joined.isascii() or joined.encode().translate(None, characters):
        raise _Unproven


def _ident(values: list) -> list:
    """`Ident`: 1 to 128 characters."""
    _lengths(values, 1, 128)
    return values


def _hashed(values: list) -> list:
    """`Hashed`: 16 to 64 lower-case hex digits."""
    _lengths(values, 16, 64)
    _only(values, _HEX)
    return values


def _region(values: list) -> list:
    """`RegionCode`: six ASCII digits, the first not 0."""
    _lengths(values, 6, 6)
    _only(values, _DIGITS)
    if "0" in set(map(itemgetter(0), values)):
        raise _Unproven
    return values


_MEMO_LIMIT = 1 << 16


def _parsed(parse: Callable[[list], list], optional: bool = False,
            memo: dict | None = None) -> Callable[[list], list]:
    """Dates, months or timestamps: each distinct text parsed once, `parse` taking the list of
    distinct texts and giving their values (`ValueError` if one is not valid).  With `memo`
    (shared by the calls, up to `_MEMO_LIMIT` texts: days and months, of which there are
    few), a text parsed before is not parsed again."""
    allowed = _STR_OR_NONE if optional else _STR

    def check(values: list) -> list:
        _types(values, allowed)
        texts = set(values)
        texts.discard(None)
        if memo is not None:  # (not `difference_update(memo)`: that walks the whole memo)
            texts = {t for t in texts if t not in memo}
        try:
            table = dict(zip(texts, parse(list(texts))))
        except (ValueError, OverflowError):
            raise _Unproven from None
        if memo is not None:
            if len(memo) + len(table) <= _MEMO_LIMIT:
                memo.update(table)
                table = memo
            else:  # full: this payload's texts parsed alone
                table.update((t, memo[t]) for t in set(values) - table.keys() - {None})
        if optional:
            table = {**table, None: None} if table is not memo else table
        return list(map(table.__getitem__, values))
    return check


def _days(texts: list[str]) -> list[date]:
    """As `records._day` on text: 10 characters `date.fromisoformat` reads."""
    if texts and set(map(len, texts)) != {10}:
        raise ValueError("not YYYY-MM-DD")
    return list(map(date.fromisoformat, texts))


def _months(texts: list[str]) -> list[date]:
    return list(map(_month, texts))


def _timestamps(texts: list[str]) -> list[datetime]:
    """As `records._utc` on text: ISO 8601 with an offset, converted to UTC."""
    stamps = list(map(datetime.fromisoformat, texts))
    if None in set(map(attrgetter("tzinfo"), stamps)):
        raise ValueError("no offset")
    return list(map(methodcaller("astimezone", timezone.utc), stamps))


_DAYS: dict = {None: None}  # None: an optional day left empty
_DAY, _MAYBE_DAY = _parsed(_days, memo=_DAYS), _parsed(_days, optional=True, memo=_DAYS)


def _not_after(values: list, as_of: date) -> None:
    latest = max(filter(None, values), default=None)  # a date is never falsy
    if isinstance(latest, datetime):
        latest = latest.date()
    if latest is not None and latest > as_of:
        raise _Unproven


def _all(test: Callable[[Any, Any], bool], later: list, earlier: list) -> None:
    """`test(later, earlier)` on every record where both are set."""
    if None in later:  # a date is never falsy: keep the records where `later` is set
        later, earlier = list(compress(later, later)), list(compress(earlier, later))
    if not all(map(test, later, earlier)):
        raise _Unproven


# -- the rules of each source beyond its fields' own ----------------------------------------------
def _tax(c: Columns) -> None:
    if any(d.day != 1 for d in c["period_start"]):
        raise _Unproven
    _all(ge, c["period_end"], c["period_start"])
    if any(d != month_end(d) for d in set(c["period_end"])):
        raise _Unproven
    _all(gt, c["filed_on"], c["period_end"])


def _sales(c: Columns) -> None:
    if [d is not None for d in c["refunded_on"]] != c["refunded"]:
        raise _Unproven
    _all(ge, c["refunded_on"], c["ordered_on"])


def _utility(c: Columns) -> None:
    ends = {m: month_end(m) for m in set(c["period_month"])}
    _all(gt, c["billed_on"], list(map(ends.__getitem__, c["period_month"])))
    _all(ge, c["due_on"], c["billed_on"])
    _all(ge, c["paid_on"], c["billed_on"])


def _logistics(c: Columns) -> None:
    _all(ge, c["delivered_on"], c["shipped_on"])


def _nothing(c: Columns) -> None:
    pass


class _Schema:
    """A source's fields (in the model's order), which may be left out, and its other rules."""

    def __init__(self, fields: dict[str, Callable[[list], list]], optional: tuple[str, ...],
                 dates: tuple[str, ...], rules: Callable[[Columns], None]) -> None:
        self.fields, self.optional, self.dates, self.rules = fields, optional, dates, rules
        self.names = frozenset(fields)
        self.required = self.names - frozenset(optional)


SCHEMAS: dict[DataScope, _Schema] = {
    DataScope.TAX: _Schema({
        "tax_type": _choice(("vat", "income_tax")), "period_start": _DAY, "period_end": _DAY,
        "filed_on": _DAY, "declared_revenue_fen": _ints(0), "tax_paid_fen": _ints(0),
    }, (), ("period_start", "period_end", "filed_on"), _tax),
    DataScope.SALES: _Schema({
        "order_id": _ident, "ordered_on": _DAY, "channel": _choice(("pos", "ecommerce")),
        "amount_fen": _ints(0, low_open=True), "customer_hash": _hashed, "refunded": _bools,
        "refunded_on": _MAYBE_DAY,
    }, ("refunded_on",), ("ordered_on", "refunded_on"), _sales),
    DataScope.UTILITY: _Schema({
        "utility": _choice(("electricity", "water")), "period_month": _parsed(_months, memo={}),
        "usage": _ints(0), "amount_fen": _ints(0), "billed_on": _DAY, "due_on": _DAY,
        "paid_on": _MAYBE_DAY,
    }, ("paid_on",), ("period_month", "billed_on", "paid_on"), _utility),
    DataScope.LOGISTICS: _Schema({
        "waybill_id": _ident, "shipped_on": _DAY, "delivered_on": _MAYBE_DAY,
        "weight_g": _ints(0, low_open=True), "fee_fen": _ints(0), "destination_region": _region,
    }, ("delivered_on",), ("shipped_on", "delivered_on"), _logistics),
    DataScope.BANK_STATEMENT: _Schema({
        "booked_on": _DAY, "amount_fen": _ints(nonzero=True), "counterparty_hash": _hashed,
        "balance_after_fen": _ints(),
    }, (), ("booked_on",), _nothing),
    DataScope.APP_BEHAVIOUR: _Schema({
        "occurred_at": _parsed(_timestamps), "event_type": _choice(APP_EVENT_TYPES),
        "session_id": _ident, "device_id": _ident,
    }, (), ("occurred_at",), _nothing),
}


class Validated:
    """A payload proven valid: its envelope, its columns and which records left out their
    optional field (for the models' `fields_set`)."""

    __slots__ = ("business_id", "as_of", "columns", "count", "unset")

    def __init__(self, business_id: str, as_of: date, columns: Columns, count: int,
                 unset: frozenset[int]) -> None:
        self.business_id, self.as_of, self.columns = business_id, as_of, columns
        self.count, self.unset = count, unset


def columns(scope: DataScope, payload: Mapping) -> Validated | None:
    """The payload's values column by column if it is valid, else None (see the module doc)."""
    schema = SCHEMAS.get(scope)
    if schema is None:
        return None
    try:
        return _validate(schema, payload)
    except _Unproven:
        return None
    except Exception:  # noqa: BLE001 -- an input no JSON gives (an object whose == or hash
        return None    # raises): the models decide, as for anything not proven valid


def _validate(schema: _Schema, payload: Mapping) -> Validated:
    if type(payload) is not dict or payload.keys() != _ENVELOPE:
        raise _Unproven
    business_id, records = payload["business_id"], payload["records"]
    (business_id,) = _ident([business_id])
    (as_of,) = _DAY([payload["as_of"]])
    if type(records) is not list or not set(map(type, records)) <= {dict}:
        raise _Unproven
    # The keys: every required field read (KeyError if one is missing), the optional ones
    # noted where absent, and each record's size then equal to the fields it has: no other key.
    out: Columns = {}
    absent = [0] * len(records)
    try:
        for name, check in schema.fields.items():
            if name in schema.optional:
                values = [r.get(name, _ABSENT) for r in records]
                if _ABSENT in values:
                    gaps = [v is _ABSENT for v in values]
                    absent = list(map(add, absent, gaps))
                    values = [None if v is _ABSENT else v for v in values]
            else:
                values = list(map(itemgetter(name), records))
            out[name] = check(values)
    except KeyError:
        raise _Unproven from None
    full = len(schema.names)
    if any(absent):
        if list(map(len, records)) != [full - k for k in absent]:
            raise _Unproven
        unset = frozenset(i for i, k in enumerate(absent) if k)
    else:
        if records and set(map(len, records)) != {full}:
            raise _Unproven
        unset = frozenset()
    schema.rules(out)
    for name in schema.dates:
        _not_after(out[name], as_of)
    return Validated(business_id, as_of, out, len(records), unset)
