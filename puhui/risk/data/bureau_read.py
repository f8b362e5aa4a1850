"""The stored bureau report read back typed, without the record models' validation round trip.

Why: a merged monitoring state keeps the bureau's latest report as the payload's JSON (it has
nested lists, unlike the columnar sources).  Reading it back through `parse_records` validates
it again with the pydantic models on every read, a large share of a line re-evaluation's cost,
although the report was validated when it was taken in.  The other sources are decoded "typed,
without validating" (`merged_state`); this does the same for the report: its JSON is checked
field by field against the schema's rules in plain Python (types exact, as the strict models
want; literals, patterns, bounds, the loan's own rule, the dates' bounds) and the record models
are built from the checked values only when asked for (`SourceData.records`; equal field for
field to the validated ones): the reducers read light named tuples of the same fields
(`rows()`, as for the columnar sources).  Anything this cannot prove valid (a report that does not parse, an unknown
key, a value the schema forbids, anything unexpected) goes through `parse_records`, which gives
the validated answer or refuses in its own words: the validating path stays the reference
(tests/risk/data/test_bureau_read.py holds the two equal over every shape the schema allows).
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Sequence
from datetime import date
from typing import Any, get_args

import orjson

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData, parse_records
from puhui.risk.data.records import (
    BureauLoan,
    BureauReport,
    Enquiry,
    OverdueMonth,
    _day,
    _month,
)


def _literals(model: Any, name: str) -> frozenset[str]:
    """The words a Literal field of a record model allows: read from the model, not copied, so
    the two cannot drift apart."""
    return frozenset(get_args(model.model_fields[name].annotation))


def _pattern(model: Any, name: str) -> re.Pattern[str]:
    """The pattern a text field of a record model must match, read from the model."""
    (found,) = [m.pattern for m in model.model_fields[name].metadata
                if getattr(m, "pattern", None)]
    return re.compile(found)


_HASHED = _pattern(BureauLoan, "loan_ref")
_LENDERS = _literals(BureauLoan, "lender_type")
_STATUSES = _literals(BureauLoan, "status")
_REASONS = _literals(Enquiry, "reason")
_ENVELOPE = frozenset({"business_id", "as_of", "records"})
_REPORT_KEYS = frozenset(BureauReport.model_fields)
_LOAN_KEYS = frozenset(BureauLoan.model_fields)
_MONTH_KEYS = frozenset(OverdueMonth.model_fields)
_ENQUIRY_KEYS = frozenset(Enquiry.model_fields)
#: Integers outside this range are left to the models (the checks here stay on safe ground).
_INT_LIMIT = 2 ** 63
_NESTED = frozenset({"loans", "overdue_history", "enquiries"})


class _Unproven(Exception):
    """The report is not one this reader can prove valid: the models decide."""


def bureau_data(raw: bytes | str, business_id: str, as_of: date) -> SourceData:
    """The stored report `raw` as `parse_records` gives it for `business_id` on `as_of`
    (`merged_state.source_data` of a bureau state): typed without the models when every value
    is one the schema allows, else through them (the same answer, or the same refusal)."""
    typed = typed_report(raw, business_id, as_of)
    if typed is not None:
        return typed
    payload = orjson.loads(raw)
    return parse_records(DataScope.BUREAU, {**payload, "business_id": business_id,
                                            "as_of": as_of.isoformat()})


def typed_report(raw: bytes | str, business_id: str, as_of: date) -> SourceData | None:
    """`bureau_data`'s answer built without the models, or None when the report holds anything
    this cannot prove the models would accept as it is."""
    try:
        payload = orjson.loads(raw)
        if (type(payload) is not dict or not payload.keys() <= _ENVELOPE
                or type(as_of) is not date or type(business_id) is not str
                or not 1 <= len(business_id) <= 128 or not business_id.isascii()):
            return None
        records = payload.get("records", _Unproven)
        if type(records) is not list:
            return None
        reports = [_report(r, as_of) for r in records]
    except (_Unproven, ValueError, TypeError, KeyError):
        return None
    return _Reports(DataScope.BUREAU, business_id, as_of,
                    columns={name: [r[k] for r in reports]
                             for k, name in enumerate(ReportRow._fields)},
                    count=len(reports))


#: The checked values, as light rows with the models' fields (`SourceData.rows()`).
ReportRow = namedtuple("ReportRow", BureauReport.model_fields)  # type: ignore[misc]
LoanRow = namedtuple("LoanRow", BureauLoan.model_fields)  # type: ignore[misc]
OverdueRow = namedtuple("OverdueRow", OverdueMonth.model_fields)  # type: ignore[misc]
EnquiryRow = namedtuple("EnquiryRow", Enquiry.model_fields)  # type: ignore[misc]


class _Reports(SourceData):
    """Bureau reports checked by `typed_report`, kept as their values: `rows()` gives them as
    named tuples (nested lists of named tuples), `records` builds the models on first use."""

    __slots__ = ()

    @property
    def records(self) -> tuple[BureauReport, ...]:
        if self._records is None:
            built = tuple(_model(r) for r in self._checked())
            object.__setattr__(self, "_records", built)
        return self._records

    def rows(self) -> Sequence[Any]:
        """The models when built, else the checked rows (nested lists of named tuples)."""
        return self._records if self._records is not None else self._checked()

    def column(self, name: str) -> list:
        """As `SourceData.column`: a nested list's items as their models."""
        if name in _NESTED:
            return [getattr(r, name) for r in self.records]
        return super().column(name)

    def _checked(self) -> tuple[ReportRow, ...]:
        return tuple(map(ReportRow._make, zip(*(self._columns[n] for n in ReportRow._fields))))


def _exact(value: Any, kind: type) -> Any:
    if type(value) is not kind:
        raise _Unproven
    return value


def _int(value: Any, low: int, high: int = _INT_LIMIT) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _Unproven
    return value


def _among(value: Any, allowed: frozenset[str]) -> str:
    if type(value) is not str or value not in allowed:
        raise _Unproven
    return value


def _dated(value: Any, parse: Any, bound: date) -> date:
    """A date (or month) field's value, not after `bound` (what `parse_records` checks)."""
    if type(value) is not str:
        raise _Unproven
    day = parse(value)
    if day > bound:
        raise _Unproven
    return day


def _report(item: Any, as_of: date) -> ReportRow:
    if type(item) is not dict or item.keys() != _REPORT_KEYS:
        raise _Unproven
    reported_on = _dated(item["reported_on"], _day, as_of)
    return ReportRow(reported_on,
                     [_loan(x, reported_on) for x in _exact(item["loans"], list)],
                     [_overdue(x, reported_on) for x in _exact(item["overdue_history"], list)],
                     [_enquiry(x, reported_on) for x in _exact(item["enquiries"], list)])


def _loan(item: Any, bound: date) -> LoanRow:
    if type(item) is not dict or item.keys() != _LOAN_KEYS:
        raise _Unproven
    ref = item["loan_ref"]
    if type(ref) is not str or _HASHED.fullmatch(ref) is None:
        raise _Unproven
    limit = _int(item["limit_fen"], 1)
    balance = _int(item["balance_fen"], 0, limit)  # balance_fen exceeding limit_fen: refused
    status = _among(item["status"], _STATUSES)
    if status == "closed" and balance:  # a closed loan has no balance
        raise _Unproven
    return LoanRow(ref, _among(item["lender_type"], _LENDERS),
                   _dated(item["opened_on"], _day, bound), limit, balance, status)


def _overdue(item: Any, bound: date) -> OverdueRow:
    if type(item) is not dict or item.keys() != _MONTH_KEYS:
        raise _Unproven
    return OverdueRow(_dated(item["month"], _month, bound),
                      _int(item["overdue_days"], 0, 3650))


def _enquiry(item: Any, bound: date) -> EnquiryRow:
    if type(item) is not dict or item.keys() != _ENQUIRY_KEYS:
        raise _Unproven
    return EnquiryRow(_dated(item["enquired_on"], _day, bound),
                      _among(item["reason"], _REASONS))


_set = object.__setattr__


def _model(row: Any) -> BureauReport:
    """The report's models from its checked row, as the models' validation leaves them."""
    return _built(BureauReport, (row.reported_on, [_built(BureauLoan, x) for x in row.loans],
                                 [_built(OverdueMonth, x) for x in row.overdue_history],
                                 [_built(Enquiry, x) for x in row.enquiries]))


def _built(model: type, values: tuple) -> Any:
    """`model` holding `values` (checked; every field, in the schema's order) as validation
    leaves it: what `model_construct` does, without its per-field search."""
    names = model.model_fields
    found = model.__new__(model)
    _set(found, "__dict__", dict(zip(names, values)))
    _set(found, "__pydantic_fields_set__", set(names))
    _set(found, "__pydantic_extra__", None)
    _set(found, "__pydantic_private__", None)
    return found


__all__ = ["EnquiryRow", "LoanRow", "OverdueRow", "ReportRow", "bureau_data", "typed_report"]
