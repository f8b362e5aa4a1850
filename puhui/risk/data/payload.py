"""A connector payload, validated whole: `parse_payload(scope, payload) -> SourceData`.

Why one entry point: the live decision, the storage service and the tests all take the same
JSON (`{"business_id", "as_of", "records"}`) and must refuse the same mistakes with the same
`InvalidRecord`, naming the source, the record index and the field, so a rejected payload can be
stored with an error an operator can act on.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from puhui.parties.consent import DataScope
from puhui.risk.data import columnar
from puhui.risk.data.typed import TypedColumn
from puhui.risk.data.records import (
    AppEvent, BankTransaction, BureauReport, Day, Ident, Record, SalesOrder, TaxFiling,
    UtilityBill, Waybill,
)
from puhui.risk.errors import InvalidRecord

#: The record schema of each business-data scope (identity and bank-account binding are
#: origination's own checks, not data sources).
SCHEMAS: dict[DataScope, type[Record]] = {
    DataScope.TAX: TaxFiling,
    DataScope.SALES: SalesOrder,
    DataScope.UTILITY: UtilityBill,
    DataScope.LOGISTICS: Waybill,
    DataScope.BANK_STATEMENT: BankTransaction,
    DataScope.BUREAU: BureauReport,
    DataScope.APP_BEHAVIOUR: AppEvent,
}
SOURCES: tuple[DataScope, ...] = tuple(SCHEMAS)

R = TypeVar("R", bound=Record)


class _Envelope(BaseModel, Generic[R]):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    business_id: Ident
    as_of: Day
    records: list[R]


_ENVELOPES = {scope: _Envelope[schema] for scope, schema in SCHEMAS.items()}


class SourceData:
    """The validated records one source holds on a business, as fetched on `as_of`.

    A payload validated column by column (`columnar`) is kept as its columns: `column(name)`
    gives a field's values in record order, as the records' attributes hold them, without
    building a record; `records` builds the record models on first use (tests, `to_payload`),
    and `rows()` gives light named tuples of the same fields for the small sources' loops.  A
    payload validated by the models (the bureau's report, or any payload the columnar pass
    could not prove valid) is kept as its records, and its columns are read from them.
    """

    __slots__ = ("scope", "business_id", "as_of", "_records", "_columns", "_count", "_unset",
                 "_rows", "_typed")

    def __init__(self, scope: DataScope, business_id: str, as_of: date,
                 records: Sequence[Record] | None = None, *,
                 columns: Mapping[str, "list | TypedColumn"] | None = None, count: int = 0,
                 unset: frozenset[int] = frozenset()) -> None:
        if (records is None) == (columns is None):
            raise TypeError("SourceData holds either records or columns")
        put = object.__setattr__
        put(self, "scope", scope)
        put(self, "business_id", business_id)
        put(self, "as_of", as_of)
        put(self, "_records", None if records is None else tuple(records))
        put(self, "_columns", {} if columns is None else dict(columns))
        put(self, "_count", count if records is None else len(records))
        put(self, "_unset", unset)
        put(self, "_rows", None)
        put(self, "_typed", {})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"SourceData is read-only (cannot set {name})")

    @property
    def record_count(self) -> int:
        return self._count

    @property
    def records(self) -> tuple[Record, ...]:
        """The records as their models (built from the columns on first use)."""
        if self._records is None:
            schema, names = SCHEMAS[self.scope], tuple(self._columns)
            given, required = frozenset(names), _REQUIRED[self.scope]
            built = tuple(
                schema.model_construct(set(required if i in self._unset else given),
                                       **dict(zip(names, values)))
                for i, values in enumerate(zip(*map(self.column, names))))
            object.__setattr__(self, "_records", built)
        return self._records

    def column(self, name: str) -> list:
        """One field's values, in record order (read from the records once if need be)."""
        values = self._columns.get(name)
        if values is None:
            if name not in SCHEMAS[self.scope].model_fields:
                raise KeyError(f"{self.scope.value} records have no field {name!r}")
            values = self._columns[name] = list(map(attrgetter(name), self._records))
        elif isinstance(values, TypedColumn):
            return values.to_list()
        return values

    def typed(self, name: str) -> TypedColumn:
        """One field's values as a `TypedColumn` (the stored form of a merged monitoring state,
        or the list wrapped): what the panel's reducers read, as arrays."""
        found = self._typed.get(name)
        if found is None:
            values = self._columns.get(name)
            found = values if isinstance(values, TypedColumn) else \
                TypedColumn("L", self.column(name))
            self._typed[name] = found
        return found

    def days(self, name: str) -> np.ndarray:
        """A date (or UTC timestamp) field as proleptic ordinals, int64; 0 where None."""
        return self.typed(name).days()

    def ints(self, name: str) -> np.ndarray:
        """An integer field as int64 (`RiskDataError` if a value does not fit)."""
        return self.typed(name).ints()

    def flags(self, name: str) -> np.ndarray:
        """A boolean field as a bool array."""
        return self.typed(name).flags()

    def codes(self, name: str) -> np.ndarray:
        """A field as equality codes: equal values, equal codes, each in [0, record_count)."""
        return self.typed(name).codes()

    def among(self, name: str, wanted: Iterable[Any]) -> np.ndarray:
        """Which records' field is one of `wanted`."""
        return self.typed(name).among(wanted)

    def rows(self) -> Sequence[Any]:
        """The records as objects with their fields as attributes: the models when they are
        built, else named tuples of the columns (cheap to build, for loops over few records)."""
        if self._records is not None:
            return self._records
        if self._rows is None:
            row = _ROWS[self.scope]
            object.__setattr__(self, "_rows", tuple(map(row._make, zip(*(
                self.column(name) for name in row._fields)))))
        return self._rows

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SourceData):
            return NotImplemented
        return ((self.scope, self.business_id, self.as_of, self.record_count)
                == (other.scope, other.business_id, other.as_of, other.record_count)
                and self.records == other.records)

    def __hash__(self) -> int:
        return hash((self.scope, self.business_id, self.as_of, self.record_count))

    def __repr__(self) -> str:
        return (f"SourceData({self.scope.value}, {self.business_id!r}, {self.as_of}, "
                f"{self.record_count} records)")

    def to_payload(self) -> dict:
        """The JSON-ready payload this data was parsed from (dates as ISO strings)."""
        return {"business_id": self.business_id, "as_of": self.as_of.isoformat(),
                "records": [r.model_dump(mode="json") for r in self.records]}


_REQUIRED = {scope: frozenset(name for name, f in schema.model_fields.items() if f.is_required())
             for scope, schema in SCHEMAS.items()}
_ROWS = {scope: namedtuple(f"{schema.__name__}Row", schema.model_fields)  # type: ignore[misc]
         for scope, schema in SCHEMAS.items()}


def source_scope(scope: DataScope | str) -> DataScope:
    """`scope` as a data source, or `InvalidRecord` naming the sources there are."""
    try:
        resolved = DataScope(scope)
    except ValueError:
        resolved = None
    if resolved not in SCHEMAS:
        raise InvalidRecord(str(getattr(scope, "value", scope)), None, "scope",
                            f"not a business-data source; choose from "
                            f"{[s.value for s in SOURCES]}")
    return resolved


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refusal(scope: DataScope, exc: ValidationError) -> InvalidRecord:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = list(first["loc"])
    index = None
    if len(loc) >= 2 and loc[0] == "records" and isinstance(loc[1], int):
        index, loc = loc[1], loc[2:]
    field = ".".join(str(part) for part in loc)
    problem = first["msg"]
    if first["type"] not in ("missing", "extra_forbidden"):
        problem += f" (got {_short(first.get('input'))})"
    if len(errors) > 1:
        problem += f"; and {len(errors) - 1} more problem(s)"
    return InvalidRecord(scope.value, index, field, problem)


def parse_payload(scope: DataScope | str, payload: Mapping) -> SourceData:
    """Validate a connector payload; `InvalidRecord` on the first problem found.

    Besides each record's own rules, no record may be dated after the payload's `as_of`: a
    provider cannot know the future, so such a record means a broken feed or a bad clock.

    The records are checked column by column (`columnar`); a payload that pass cannot prove
    valid goes through the record models one record at a time (`parse_records`), which refuse
    it naming the first problem, or accept what the columnar pass was too strict for.
    """
    scope = source_scope(scope)
    if not isinstance(payload, Mapping):
        raise InvalidRecord(scope.value, None, "", f"a payload is a JSON object, not "
                                                   f"{type(payload).__name__}")
    valid = columnar.columns(scope, payload)
    if valid is None:
        return parse_records(scope, payload)
    return SourceData(scope, valid.business_id, valid.as_of, columns=valid.columns,
                      count=valid.count, unset=valid.unset)


def parse_records(scope: DataScope | str, payload: Mapping) -> SourceData:
    """`parse_payload` through the record models, one record at a time: the reference the
    columnar pass is tested against, and what names a refused payload's first problem."""
    scope = source_scope(scope)
    if not isinstance(payload, Mapping):
        raise InvalidRecord(scope.value, None, "", f"a payload is a JSON object, not "
                                                   f"{type(payload).__name__}")
    try:
        envelope = _ENVELOPES[scope].model_validate(dict(payload))
    except ValidationError as exc:
        raise _refusal(scope, exc) from None
    as_of, records = envelope.as_of, envelope.records
    if not _all_dated_by(records, SCHEMAS[scope], as_of):
        _refuse_the_first_late_date(scope, records, as_of)
    return SourceData(scope, envelope.business_id, as_of, tuple(records))


def _all_dated_by(records: list[Record], schema: type[Record], as_of: date) -> bool:
    """Whether no record is dated after `as_of`: the latest value of each date field, found
    in C (`max` over the field) rather than record by record; bureau reports, which have
    their own bounds, are left to the full check."""
    if schema is BureauReport:
        return not records
    for name in schema.DATES:
        latest = max(filter(None, map(attrgetter(name), records)), default=None)
        if isinstance(latest, datetime):
            latest = latest.date()
        if latest is not None and latest > as_of:
            return False
    return True


def _refuse_the_first_late_date(scope: DataScope, records: list[Record], as_of: date) -> None:
    """`InvalidRecord` for the first record (and field) dated after what bounds it, if any."""
    for index, record in enumerate(records):
        bound, bound_name = as_of, "the payload's as_of"
        for field, value in record.dated():
            if value > bound:
                raise InvalidRecord(scope.value, index, field,
                                    f"{value.isoformat()} is after {bound_name} "
                                    f"({bound.isoformat()})")
            if isinstance(record, BureauReport) and field == "reported_on":
                bound, bound_name = value, "the report's reported_on"
