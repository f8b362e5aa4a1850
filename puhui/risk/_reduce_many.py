"""The tax and utility reducers (`_reduce.tax`, `_reduce.utility`) for many businesses at once.

Why: the line refresh reduces the small sources of a whole chunk of businesses (thousands) per
step.  The one-business reducers cost a few dozen NumPy calls each, whatever the business's
size (a handful of filings or bills), so a chunk costs tens of thousands of calls.  Here each
business's fields are read through the same `SourceData` accessors (one cheap call per field
and business), concatenated, and reduced with NumPy calls whose number does not grow with the
chunk: every record carries its business's index (its owner), monthly cells are
``owner * HISTORY_MONTHS + row``, and per-business reductions run over the owners' runs.

The result equals `stacked.stack(scope, [reducer(source, as_of, top) or None per business],
top)` (None where the reducer raises `RiskDataError`): the same columns, activity month and
refusals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, SNAPSHOT, month_index, window_starts
from puhui.risk.stacked import NO_MONTH, Stacked

_VAT, _WATER = frozenset({"vat"}), frozenset({"water"})
_PANEL = np.arange(HISTORY_MONTHS)
_LIMIT = np.uint64(2 ** 63)


class _Owners:
    """Which business each concatenated record belongs to, and where each one's run starts."""

    def __init__(self, lengths: np.ndarray) -> None:
        self.count = len(lengths)
        self.lengths = lengths
        self.starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64) \
            if self.count else np.zeros(0, np.int64)
        self.total = int(lengths.sum()) if self.count else 0
        self.of = np.repeat(np.arange(self.count), lengths)
        self.nonempty = lengths > 0

    def reduce(self, ufunc: np.ufunc, values: np.ndarray, empty: int) -> np.ndarray:
        """`ufunc` over each business's run of `values` (along axis 0), `empty` for a business
        with no records (`reduceat` alone would give an empty run the next run's first value)."""
        out = np.full((self.count, *values.shape[1:]), empty, values.dtype)
        if self.total:
            out[self.nonempty] = ufunc.reduceat(values, self.starts[self.nonempty], axis=0)
        return out

    def cells(self, row: np.ndarray, where: np.ndarray) -> np.ndarray:
        """The (business, complete month) cell of each record `where` says."""
        return self.of[where] * HISTORY_MONTHS + row[where]

    def count_by_cell(self, row: np.ndarray, where: np.ndarray) -> np.ndarray:
        """How many records `where` says fall in each (business, complete month): (B, months)."""
        return np.bincount(self.cells(row, where), minlength=self.count * HISTORY_MONTHS) \
            .reshape(self.count, HISTORY_MONTHS).astype(np.int64)

    def sum_by_cell(self, row: np.ndarray, where: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Exact int64 totals of `values` per (business, complete month) (wrapping only where
        the business is refused)."""
        out = np.zeros(self.count * HISTORY_MONTHS, np.int64)
        np.add.at(out, self.cells(row, where), values[where])
        return out.reshape(self.count, HISTORY_MONTHS)


def _concat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


def _among(sources: Sequence[SourceData], name: str, wanted: frozenset[str]) -> np.ndarray:
    """`source.among(name, wanted)` of each business, concatenated.  A dictionary column
    (kind ``u``, a merged state's usual form) is answered from its codes: each distinct
    dictionary's words are looked up once per chunk, not once per business."""
    hits: list[bool] = []  # the answers, each business's codes index them from its offset
    tables: dict[tuple[str, ...], int] = {}  # a dictionary -> its words' offset in `hits`
    codes: list[np.ndarray] = []
    offsets: list[int] = []
    for source in sources:
        column = source.typed(name)
        if column.kind == "u":
            words = tuple(column.uniques)
            at = tables.get(words)
            if at is None:
                at = tables[words] = len(hits)
                hits.extend(w in wanted for w in words)
            codes.append(column.data)
        else:
            found = source.among(name, wanted)
            at = len(hits)
            hits.extend(found.tolist())
            codes.append(np.arange(len(found)))
        offsets.append(at)
    lengths = np.fromiter(map(len, codes), np.int64, len(codes))
    index = _concat(codes, np.int64) + np.repeat(np.array(offsets, np.int64), lengths)
    return np.array(hits, bool)[index]


def _ints(sources: Sequence[SourceData], names: tuple[str, ...], wanted: np.ndarray,
          ok: np.ndarray) -> list[np.ndarray]:
    """Each int field of the businesses `wanted` (zeros for the others, which the reducer
    does not read), concatenated; a business whose values do not fit int64 is not `ok`."""
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for b, source in enumerate(sources):
        n = source.record_count
        got = None
        if wanted[b]:
            try:
                got = [source.ints(name) for name in names]
            except RiskDataError:
                ok[b] = False
        for part, values in zip(parts, got or [np.zeros(n, np.int64)] * len(names)):
            part.append(values)
    return [_concat(part, np.int64) for part in parts]


def _refuse_unsummable(owners: _Owners, values: np.ndarray, where: np.ndarray,
                       ok: np.ndarray) -> None:
    """`c.summable` per business: not `ok` where the largest magnitude of its values `where`
    says, times their count, reaches 2**63 (compared exactly, in unsigned 64-bit integers)."""
    magnitude = np.where(values < 0, (-(values + 1)).astype(np.uint64) + np.uint64(1),
                         values.astype(np.uint64))
    largest = owners.reduce(np.maximum, np.where(where, magnitude, np.uint64(0)), 0)
    count = np.bincount(owners.of[where], minlength=owners.count).astype(np.uint64)
    # largest * count >= 2**63  <=>  largest >= ceil(2**63 / count), for count > 0
    bound = (_LIMIT - np.uint64(1)) // np.maximum(count, np.uint64(1)) + np.uint64(1)
    ok &= ~((count > 0) & (largest >= bound))


def _filled(scope: DataScope, count: int) -> Stacked:
    """Every column zero and valid on the complete months (the reducers' `c.monthly`)."""
    out = Stacked.empty(scope, count)
    for _, valid in out.columns.values():
        valid[:] = c.COMPLETE
    return out


def tax_many(sources: Sequence[SourceData], as_of: date, top: int) -> Stacked:
    """`_reduce.tax` of each business, stacked (see the module doc): filings known by as_of,
    VAT months covered by the latest such filing (amendments), its amounts spread over its
    period with the remainder in the last month, late filings in their period end's row."""
    count = len(sources)
    out = _filled(DataScope.TAX, count)
    owners = _Owners(np.fromiter((s.record_count for s in sources), np.int64, count))
    if not owners.total:
        return out
    n = owners.total
    filed = _concat([s.days("filed_on") for s in sources], np.int64)
    start = _concat([s.days("period_start") for s in sources], np.int64)
    end = _concat([s.days("period_end") for s in sources], np.int64)
    vat = _among(sources, "tax_type", _VAT)
    known = filed <= as_of.toordinal()
    reduced = np.bincount(owners.of[known], minlength=count) > 0  # the others: zeros, no activity
    revenue, paid = _ints(sources, ("declared_revenue_fen", "tax_paid_fen"), reduced, out.ok)
    first, last = c.months(np.concatenate((start, end)).reshape(2, n))
    deadline = end + 15
    annual = last - first >= 11
    if annual.any():
        deadline = np.where(annual, c.month_firsts(last // 12 * 12 + 16) + 30, deadline)
    row = c.rows(end, top)
    late = known & (filed > deadline) & c.complete(row)
    # each (business, panel month)'s VAT filing: the latest covering it by (filed_on, position)
    month = top - HISTORY_MONTHS + _PANEL
    order = np.where(known & vat, filed * (n + 1) + np.arange(n), -1)
    best = owners.reduce(np.maximum, np.where(
        (first[:, None] <= month) & (last[:, None] >= month), order[:, None], -1), -1)
    covered = best >= 0
    winner = np.maximum(best, 0) % (n + 1)
    spread = (last - first + 1)[winner]
    total = np.stack((revenue, paid))[:, winner]
    share = total // spread  # spread evenly, the remainder in the period's last month
    amounts = np.where(covered, share + np.where(month == last[winner], total - share * spread,
                                                 0), 0)
    h = HISTORY_MONTHS
    out.columns["tax_vat_covered"][0][:, :h] = covered
    out.columns["tax_vat_revenue_fen"][0][:, :h] = amounts[0]
    out.columns["tax_vat_paid_fen"][0][:, :h] = amounts[1]
    out.columns["tax_late_filings"][0][:, :h] = owners.count_by_cell(row, late)
    earliest = owners.reduce(np.minimum, np.where(known, first, NO_MONTH), NO_MONTH)
    out.first_month[:] = np.where(earliest <= top, earliest, NO_MONTH)
    return out


def utility_many(sources: Sequence[SourceData], as_of: date, top: int) -> Stacked:
    """`_reduce.utility` of each business, stacked (see the module doc): bills known by as_of
    (billed_on) in their period month's row, electricity (billed, kWh) or water (m3), amounts,
    and bills late as of as_of (paid after due, or unpaid past due)."""
    count = len(sources)
    out = _filled(DataScope.UTILITY, count)
    owners = _Owners(np.fromiter((s.record_count for s in sources), np.int64, count))
    everyone = np.ones(count, bool)  # the reducer reads the amounts of every business
    usage, amount = _ints(sources, ("usage", "amount_fen"), everyone, out.ok)
    if not owners.total:
        return out
    day = as_of.toordinal()
    billed = _concat([s.days("billed_on") for s in sources], np.int64) <= day
    period = _concat([s.days("period_month") for s in sources], np.int64)
    water = _among(sources, "utility", _WATER)
    paid = _concat([s.days("paid_on") for s in sources], np.int64)  # 0 if unpaid
    due = _concat([s.days("due_on") for s in sources], np.int64)
    row = np.where(billed, c.rows(period, top), -1)  # a bill not known yet: never counted
    inside = c.complete(row)
    late = np.where((paid > 0) & (paid <= day), paid > due, day > due)
    _refuse_unsummable(owners, usage, inside, out.ok)
    _refuse_unsummable(owners, amount, inside, out.ok)
    h = HISTORY_MONTHS
    columns = out.columns
    columns["elec_billed"][0][:, :h] = owners.count_by_cell(row, inside & ~water) > 0
    columns["elec_kwh"][0][:, :h] = owners.sum_by_cell(row, inside & ~water, usage)
    columns["water_m3"][0][:, :h] = owners.sum_by_cell(row, inside & water, usage)
    columns["utility_fen"][0][:, :h] = owners.sum_by_cell(row, inside, amount)
    columns["utility_late"][0][:, :h] = owners.count_by_cell(row, inside & late)
    earliest = owners.reduce(np.minimum, np.where(billed, period, NO_MONTH), NO_MONTH)
    seen = earliest <= day  # the earliest billed period, if not after as_of (`c.first_month`)
    month = c.months(np.where(seen, earliest, day))
    out.first_month[:] = np.where(seen & (month <= top), month, NO_MONTH)
    return out


def bureau_many(sources: Sequence[SourceData], as_of: date, top: int) -> Stacked:
    """`_reduce.bureau` of each business, stacked: the latest report known by as_of (the last
    listed among those of its day), each complete month's largest overdue days, and at as_of
    the open loans (count, balances, limits) and the loan-approval enquiries of the last 3 and
    6 months.  A business without a report known by as_of has no columns; one whose totals do
    not fit int64 is not ok.  The reports are read as rows (`SourceData.rows()`: the light
    named tuples of a stored report, `risk.data.bureau_read`), a few dozen Python steps a
    business and a handful of array writes for the chunk, instead of the one-business
    reducer's dozen small arrays each."""
    count = len(sources)
    out = Stacked.empty(DataScope.BUREAU, count)
    if not count:
        return out
    h = HISTORY_MONTHS
    lo = top - h
    starts = window_starts(as_of)
    start_3m, start_6m = starts["3m"], starts["6m"]
    overdue = np.zeros((count, h), np.int64)
    snapshot = np.zeros((count, len(_BUREAU_SNAPSHOT)), np.int64)
    has = np.zeros(count, bool)
    for b, source in enumerate(sources):
        report = None
        for r in source.rows():  # the latest known by as_of; of a day, the last listed
            if r.reported_on <= as_of and (report is None or r.reported_on >= report.reported_on):
                report = r
        if report is None:
            continue
        months = [0] * h
        for item in report.overdue_history:
            row = month_index(item.month) - lo
            if 0 <= row < h:
                months[row] = max(months[row], item.overdue_days)
        open_loans = [loan for loan in report.loans if loan.status == "open"]
        asked = [e.enquired_on for e in report.enquiries if e.reason == "loan_approval"]
        found = {"bureau_open_loans": len(open_loans),
                 "bureau_balance_fen": sum(loan.balance_fen for loan in open_loans),
                 "bureau_limit_fen": sum(loan.limit_fen for loan in open_loans),
                 "bureau_enquiries_3m": sum(start_3m < d <= as_of for d in asked),
                 "bureau_enquiries_6m": sum(start_6m < d <= as_of for d in asked)}
        try:
            overdue[b] = months
            snapshot[b] = [found[name] for name in _BUREAU_SNAPSHOT]
        except OverflowError:  # `c.ints` refuses it: the one-business path says so
            out.ok[b] = False
            continue
        has[b] = True
    values, valid = out.columns["bureau_overdue_days"]
    values[:, :h] = overdue
    valid[has] = c.COMPLETE
    for k, name in enumerate(_BUREAU_SNAPSHOT):
        values, valid = out.columns[name]
        values[:, h] = snapshot[:, k]
        valid[has] = c.AT_AS_OF
    return out


_BUREAU_SNAPSHOT = tuple(SNAPSHOT[DataScope.BUREAU])

MANY: dict[DataScope, Callable[[Sequence[SourceData], date, int], Stacked]] = {
    DataScope.TAX: tax_many, DataScope.UTILITY: utility_many, DataScope.BUREAU: bureau_many,
}

__all__ = ["MANY", "bureau_many", "tax_many", "utility_many"]
