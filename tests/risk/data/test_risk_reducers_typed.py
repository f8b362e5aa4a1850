"""The panel's reducers (`_reduce`: NumPy over fields read through `SourceData`'s typed
accessors) give exactly the columns and the earliest activity month of the record-by-record
definitions they replaced (the reference reducers below), on random valid payloads of every
source: records known after the reducer's as_of (it is varied below the payload's), refunds made
before and after it, amended and late tax filings, annual returns, unpaid and late bills,
repeated customers, counterparties and devices, month boundaries, empty sources.  Each property
runs on the data as parsed (Python lists) and as typed columns (a merged monitoring state's
form)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import compress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk import _reduce
from puhui.risk.data.payload import SCHEMAS, SourceData, parse_payload
from puhui.risk.data.records import month_end
from puhui.risk.data.typed import TypedColumn
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import (
    HISTORY_MONTHS, ROWS, filing_deadline, month_index, month_of, window_starts,
)
from risk_data_samples import AS_OF as SAMPLE_AS_OF
from risk_data_samples import fetched, world

PAYLOAD_AS_OF = date(2026, 11, 20)
BUSINESS = "91310000MA1FL0000X"
HASHES = ["a" * 16, "b" * 64, "0123456789abcdef", "f" * 32]
#: Customers: some repeat, and a long payload has too many to code as a dictionary.
CUSTOMERS = [f"{i:016x}" for i in range(40)]
_NEVER = np.iinfo(np.int64).max
_LIMIT = 2 ** 63


# -- the reference: the reducers as they were, reading Python values ------------------------------
def _days(dates, n: int) -> np.ndarray:
    return np.fromiter(map(date.toordinal, dates), np.int64, n)


def _money(values, n: int, what: str) -> np.ndarray:
    try:
        out = np.fromiter(values, np.int64, n)
    except OverflowError:
        out = None
    if out is None or (n and max(int(out.max()), -int(out.min())) * n >= _LIMIT):
        raise RiskDataError(f"{what} too large to total exactly in int64")
    return out


def _codes(keys) -> np.ndarray:
    last = dict(zip(keys, range(len(keys))))
    return np.fromiter(map(last.__getitem__, keys), np.int64, len(keys))


def ref_sales(source, as_of, top):
    n = source.record_count
    if not n:
        return c.monthly(DataScope.SALES), []
    day = _days(source.column("ordered_on"), n)
    row = c.rows(day, top)
    customer = _codes(source.column("customer_hash"))
    first = np.full(n, _NEVER)
    np.minimum.at(first, customer, row)
    inside = c.complete(row)
    r = row[inside]
    repeat = (row > first[customer])[inside]
    m = len(r)
    amounts = source.column("amount_fen")
    amount = _money(compress(amounts, inside), m, "sales amounts")
    online = np.fromiter(map({"pos": False, "ecommerce": True}.__getitem__,
                             compress(source.column("channel"), inside)), bool, m)
    refunded = [0] * ROWS
    lo = top - HISTORY_MONTHS
    for back, fen in compress(zip(source.column("refunded_on"), amounts),
                              source.column("refunded")):
        if back <= as_of and 0 <= month_index(back) - lo < HISTORY_MONTHS:
            refunded[month_index(back) - lo] += fen
    return c.monthly(DataScope.SALES, sales_orders=c.by_row(r),
                     sales_gross_fen=c.by_row(r, amount),
                     sales_ecommerce_fen=c.by_row(r[online], amount[online]),
                     sales_repeat_orders=c.by_row(r[repeat]),
                     sales_refunded_fen=c.ints(refunded)), c.first_month(day, as_of)


def ref_tax(source, as_of, top):
    records = source.rows()
    covered, revenue, paid, late = ([0] * ROWS for _ in range(4))
    filed = sorted((r for r in records if r.filed_on <= as_of), key=lambda r: r.filed_on)
    winner = {}
    lo = top - HISTORY_MONTHS
    for r in filed:
        if r.tax_type == "vat":
            for i in range(month_index(r.period_start), month_index(r.period_end) + 1):
                winner[i] = r
        row = month_index(r.period_end) - lo
        if 0 <= row < HISTORY_MONTHS and r.filed_on > filing_deadline(r.period_start,
                                                                      r.period_end):
            late[row] += 1
    for i, r in winner.items():
        row = i - lo
        if not 0 <= row < HISTORY_MONTHS:
            continue
        first, last = month_index(r.period_start), month_index(r.period_end)
        n = last - first + 1
        covered[row] = 1
        for out, total in ((revenue, r.declared_revenue_fen), (paid, r.tax_paid_fen)):
            share = total // n
            out[row] = share + (total - share * n if i == last else 0)
    return c.monthly(DataScope.TAX, tax_vat_covered=c.ints(covered),
                     tax_vat_revenue_fen=c.ints(revenue), tax_vat_paid_fen=c.ints(paid),
                     tax_late_filings=c.ints(late)), \
        [month_index(r.period_start) for r in filed]


def _late(bill, as_of):
    if bill.paid_on is not None and bill.paid_on <= as_of:
        return bill.paid_on > bill.due_on
    return as_of > bill.due_on


def ref_utility(source, as_of, top):
    records = source.rows()
    billed_flag, kwh, water, amount, late = ([0] * ROWS for _ in range(5))
    billed = [r for r in records if r.billed_on <= as_of]
    lo = top - HISTORY_MONTHS
    for r in billed:
        row = month_index(r.period_month) - lo
        if not 0 <= row < HISTORY_MONTHS:
            continue
        if r.utility == "electricity":
            billed_flag[row] = 1
            kwh[row] += r.usage
        else:
            water[row] += r.usage
        amount[row] += r.amount_fen
        late[row] += _late(r, as_of)
    return c.monthly(DataScope.UTILITY, elec_billed=c.ints(billed_flag), elec_kwh=c.ints(kwh),
                     water_m3=c.ints(water), utility_fen=c.ints(amount),
                     utility_late=c.ints(late)), \
        [month_index(min(r.period_month for r in billed))] if billed else []


def ref_logistics(source, as_of, top):
    if not source.record_count:
        return c.monthly(DataScope.LOGISTICS), []
    day = _days(source.column("shipped_on"), source.record_count)
    row = c.rows(day, top)
    inside = c.complete(row)
    r = row[inside]
    m = len(r)
    grams = _money(compress(source.column("weight_g"), inside), m, "waybill weights")
    fees = _money(compress(source.column("fee_fen"), inside), m, "waybill fees")
    return c.monthly(DataScope.LOGISTICS, waybills=c.by_row(r),
                     shipped_weight_g=c.by_row(r, grams), logistics_fee_fen=c.by_row(r, fees)), \
        c.first_month(day, as_of)


def ref_bank(source, as_of, top):
    n = source.record_count
    day = _days(source.column("booked_on"), n)
    known = int(np.count_nonzero(day <= as_of.toordinal()))
    order = np.argsort(day, kind="stable")[:known]
    w = c.rows(day, top)[order]
    amount = _money(source.column("amount_fen"), n, "bank amounts")[order]
    balance = _money(source.column("balance_after_fen"), n, "bank balances")[order]
    party = _codes(source.column("counterparty_hash"))[order]
    inside = (w >= 0) & (w < HISTORY_MONTHS)
    incoming = amount > 0
    key = (w + 1) * (n + 1) + party
    paid = np.isin(key, key[amount < 0])
    inflow, outflow, trip = (np.zeros(ROWS, np.int64) for _ in range(3))
    np.add.at(inflow, w[inside & incoming], amount[inside & incoming])
    np.add.at(outflow, w[inside & ~incoming], -amount[inside & ~incoming])
    np.add.at(trip, w[inside & incoming & paid], amount[inside & incoming & paid])
    low = np.full(ROWS, _NEVER)
    np.minimum.at(low, w[inside], balance[inside])
    lined = np.zeros(ROWS, bool)
    lined[w[inside]] = True
    last = np.flatnonzero(np.append(w[1:] != w[:-1], True)) if known else np.array([], int)
    end = dict(zip(w[last].tolist(), balance[last].tolist()))
    carried = end.get(-1)
    valid = np.zeros(ROWS, bool)
    for m in range(HISTORY_MONTHS):
        if lined[m]:
            valid[m] = True
        elif carried is not None:
            low[m], valid[m] = carried, True
        carried = end.get(m, carried)
    low[~valid] = 0
    out = c.monthly(DataScope.BANK_STATEMENT, bank_inflow_fen=inflow, bank_outflow_fen=outflow,
                    bank_round_trip_fen=trip)
    out["bank_min_balance_fen"] = low, valid & c.COMPLETE
    return out, c.first_month(day, as_of)


def _at_as_of(value):
    return c.ints([0] * HISTORY_MONTHS + [value]), c.AT_AS_OF


def ref_app(source, as_of, top):
    n = source.record_count
    if not n:
        out = c.monthly(DataScope.APP_BEHAVIOUR)
        return {**out, "app_logins_30d": _at_as_of(0), "app_new_devices_30d": _at_as_of(0)}, []
    day = _days(source.column("occurred_at"), n)
    row = c.rows(day, top)
    login = np.fromiter(map(frozenset({"login"}).__contains__, source.column("event_type")),
                        bool, n)
    first = np.full(n, _NEVER)
    np.minimum.at(first, _codes(source.column("device_id")), day)
    first = first[first != _NEVER]
    start, end = window_starts(as_of)["30d"].toordinal(), as_of.toordinal()
    out = c.monthly(DataScope.APP_BEHAVIOUR, app_logins=c.by_row(row[login]),
                    app_new_devices=c.by_row(c.rows(first, top)))
    recent = (day > start) & (day <= end)
    out["app_logins_30d"] = _at_as_of(int(np.count_nonzero(recent & login)))
    out["app_new_devices_30d"] = _at_as_of(int(np.count_nonzero((first > start) &
                                                                (first <= end))))
    return out, c.first_month(day, as_of)


REFERENCE = {DataScope.SALES: ref_sales, DataScope.TAX: ref_tax,
             DataScope.UTILITY: ref_utility, DataScope.LOGISTICS: ref_logistics,
             DataScope.BANK_STATEMENT: ref_bank, DataScope.APP_BEHAVIOUR: ref_app}


# -- the two forms of the same data ---------------------------------------------------------------
def _typed(source: SourceData) -> SourceData:
    """The same data with every field as a `TypedColumn` (a merged monitoring state's form)."""
    return SourceData(source.scope, source.business_id, source.as_of,
                      columns={n: TypedColumn.of(source.column(n))
                               for n in SCHEMAS[source.scope].model_fields},
                      count=source.record_count, unset=source._unset)


def _forms(scope: DataScope, records: list[dict]) -> list[SourceData]:
    payload = {"business_id": BUSINESS, "as_of": PAYLOAD_AS_OF.isoformat(), "records": records}
    parsed = parse_payload(scope, payload)
    typed = _typed(parse_payload(scope, payload))
    assert typed.record_count == parsed.record_count == len(records)
    return [parsed, typed]


def _earliest(activity: list[int], top: int) -> int | None:
    """What the panel takes of a reducer's activity months (`panel_columns`)."""
    return min((i for i in activity if i <= top), default=None)


def _check(scope: DataScope, records: list[dict], back: int) -> None:
    as_of = PAYLOAD_AS_OF - timedelta(days=back)
    top = month_index(as_of)
    for source in _forms(scope, records):
        expected, expected_active = REFERENCE[scope](source, as_of, top)
        got, active = _reduce.REDUCERS[scope](source, as_of, top)
        assert set(got) == set(expected), scope
        for name, (values, valid) in expected.items():
            got_values, got_valid = got[name]
            assert got_values.dtype == np.int64 and got_values.shape == (ROWS,), name
            if valid is None:
                assert got_valid is None, name
                assert np.array_equal(got_values, values), name
            else:
                assert np.array_equal(got_valid, valid), name
                assert np.array_equal(got_values[valid], np.asarray(values)[valid]), name
        assert _earliest(active, top) == _earliest(expected_active, top), scope


# -- random valid records -------------------------------------------------------------------------
START = PAYLOAD_AS_OF - timedelta(days=600)  # well before the panel of any as_of drawn
SPAN = (PAYLOAD_AS_OF - START).days
#: How far the reducer's as_of is below the payload's: the same day, a month boundary or so.
BACKS = st.one_of(st.just(0), st.integers(0, 120), st.sampled_from([19, 20, 21, 50, 51]))


def _day(offset: int) -> date:
    return START + timedelta(days=offset)


#: Any day; days in the last months, where the as_of drawn falls (on it, just before or after
#: it); days near the ends of months, where a day falls in one row or the next.
day_offsets = st.one_of(
    st.integers(0, SPAN), st.integers(SPAN - 125, SPAN),
    st.builds(lambda m, d: min(SPAN, max(0, (month_end(month_of(month_index(START) + m))
                                             - START).days + d)),
              st.integers(0, 20), st.integers(-1, 1)))


@st.composite
def orders(draw):
    ordered = draw(day_offsets)
    refunded = draw(st.booleans())
    record = {"order_id": f"o{draw(st.integers(0, 10**6))}",
              "ordered_on": _day(ordered).isoformat(),
              "channel": draw(st.sampled_from(["pos", "ecommerce"])),
              "amount_fen": draw(st.one_of(st.integers(1, 10**6), st.integers(1, 10**13))),
              "customer_hash": draw(st.sampled_from(CUSTOMERS)), "refunded": refunded}
    if refunded:
        record["refunded_on"] = _day(draw(st.integers(ordered, SPAN))).isoformat()
    elif draw(st.booleans()):
        record["refunded_on"] = None
    return record


@st.composite
def filings(draw):
    """VAT and income-tax filings of months, quarters, years or any span; periods drawn from
    a small pool (a later filing of the same period amends it), filed early, late or on the
    same day as another."""
    last = month_index(PAYLOAD_AS_OF) - 1  # the latest period end: the month before as_of
    kind = draw(st.sampled_from(["month", "quarter", "year", "span"]))
    if kind == "year":
        year = draw(st.integers(START.year, PAYLOAD_AS_OF.year - 1))
        first, end = year * 12, year * 12 + 11
    else:
        length = {"month": 1, "quarter": 3}.get(kind) or draw(st.integers(1, 14))
        if kind == "quarter":
            first = draw(st.integers(month_index(START) // 3, (last - 2) // 3)) * 3
        else:
            first = draw(st.integers(month_index(START), last - length + 1))
        end = first + length - 1
    period_end = month_end(month_of(end))
    filed = period_end + timedelta(days=draw(st.one_of(
        st.sampled_from([1, 15, 16, 45, 46, 151, 152, 153, 200]), st.integers(1, 400))))
    filed = min(filed, PAYLOAD_AS_OF)
    return {"tax_type": draw(st.sampled_from(["vat", "vat", "income_tax"])),
            "period_start": month_of(first).isoformat(), "period_end": period_end.isoformat(),
            "filed_on": filed.isoformat(),
            "declared_revenue_fen": draw(st.one_of(st.integers(0, 1000), st.integers(0, 10**13))),
            "tax_paid_fen": draw(st.integers(0, 10**9))}


@st.composite
def bills(draw):
    last = month_index(PAYLOAD_AS_OF) - 1
    month = month_of(draw(st.integers(month_index(START), last)))
    latest = (PAYLOAD_AS_OF - month_end(month)).days
    billed = month_end(month) + timedelta(days=draw(st.integers(1, min(latest, 40))))
    due = billed + timedelta(days=draw(st.integers(0, 30)))
    paid = draw(st.one_of(st.none(), st.integers(0, 60)))
    record = {"utility": draw(st.sampled_from(["electricity", "water"])),
              "period_month": f"{month:%Y-%m}", "usage": draw(st.integers(0, 10**6)),
              "amount_fen": draw(st.integers(0, 10**9)), "billed_on": billed.isoformat(),
              "due_on": due.isoformat()}
    if paid is not None:
        record["paid_on"] = min(billed + timedelta(days=paid), PAYLOAD_AS_OF).isoformat()
    elif draw(st.booleans()):
        record["paid_on"] = None
    return record


@st.composite
def waybills(draw):
    shipped = draw(day_offsets)
    record = {"waybill_id": f"w{draw(st.integers(0, 99))}", "shipped_on": _day(shipped).isoformat(),
              "weight_g": draw(st.integers(1, 10**7)), "fee_fen": draw(st.integers(0, 10**8)),
              "destination_region": "310000"}
    if draw(st.booleans()):
        record["delivered_on"] = _day(draw(st.integers(shipped, SPAN))).isoformat()
    return record


@st.composite
def bank_lines(draw):
    return {"booked_on": _day(draw(day_offsets)).isoformat(),
            "amount_fen": draw(st.sampled_from([-50_000, -1, 1, 70_000, 123_456, 10**12])),
            "counterparty_hash": draw(st.sampled_from(HASHES)),
            "balance_after_fen": draw(st.integers(-10**9, 10**12))}


@st.composite
def events(draw):
    """Events with offsets from UTC (a local date is not the UTC date near midnight)."""
    zone = timezone(timedelta(hours=draw(st.sampled_from([0, 8, -5]))))
    at = datetime.combine(_day(draw(day_offsets)), datetime.min.time(), timezone.utc) \
        + timedelta(minutes=draw(st.integers(0, 24 * 60 - 1)))
    return {"occurred_at": at.astimezone(zone).isoformat(),
            "event_type": draw(st.sampled_from(["login", "login", "view_dashboard", "repay"])),
            "session_id": "s1", "device_id": draw(st.sampled_from(["d1", "d2", "phone-3"]))}


def _valid(records: list[dict], scope: DataScope) -> list[dict]:
    """The records whose dates are not after the payload's as_of (an event's UTC date)."""
    if scope is not DataScope.APP_BEHAVIOUR:
        return records
    return [r for r in records
            if datetime.fromisoformat(r["occurred_at"]).astimezone(timezone.utc).date()
            <= PAYLOAD_AS_OF]


STRATEGIES = {DataScope.SALES: orders(), DataScope.TAX: filings(),
              DataScope.UTILITY: bills(), DataScope.LOGISTICS: waybills(),
              DataScope.BANK_STATEMENT: bank_lines(), DataScope.APP_BEHAVIOUR: events()}


def _property(scope: DataScope, size: int = 30):
    @settings(max_examples=150, deadline=None)
    @given(st.lists(STRATEGIES[scope], max_size=size), BACKS)
    def test(records, back) -> None:
        _check(scope, _valid(records, scope), back)
    test.__name__ = f"test_{scope.value}_reduces_as_the_reference"
    return test


test_sales_reduces_as_the_reference = _property(DataScope.SALES, 80)  # customers as text
test_tax_reduces_as_the_reference = _property(DataScope.TAX)
test_utility_reduces_as_the_reference = _property(DataScope.UTILITY)
test_logistics_reduces_as_the_reference = _property(DataScope.LOGISTICS)
test_bank_reduces_as_the_reference = _property(DataScope.BANK_STATEMENT)
test_app_reduces_as_the_reference = _property(DataScope.APP_BEHAVIOUR)


# -- chosen cases ---------------------------------------------------------------------------------
def _filing(tax_type, start, end, filed, revenue, paid=0):
    return {"tax_type": tax_type, "period_start": start, "period_end": end, "filed_on": filed,
            "declared_revenue_fen": revenue, "tax_paid_fen": paid}


@pytest.mark.parametrize("scope", list(REFERENCE))
def test_an_empty_source_reduces_to_zeros_and_no_activity(scope) -> None:
    _check(scope, [], 0)
    got, active = _reduce.REDUCERS[scope](_forms(scope, [])[1], PAYLOAD_AS_OF,
                                          month_index(PAYLOAD_AS_OF))
    assert active == [] and all(not values.any() for values, _ in got.values())


def test_an_amendment_replaces_the_earlier_filing_month_by_month() -> None:
    quarter = _filing("vat", "2026-04-01", "2026-06-30", "2026-07-10", 1_000, 7)
    amended = _filing("vat", "2026-05-01", "2026-05-31", "2026-08-01", 50, 5)  # filed late
    annual = _filing("income_tax", "2025-01-01", "2025-12-31", "2026-06-01", 9_999)  # late too
    records = [amended, quarter, annual]
    for back in (0, 100, 120, 140):  # before the amendment, before the quarter was filed
        _check(DataScope.TAX, records, back)
    as_of = PAYLOAD_AS_OF
    top = month_index(as_of)
    got, active = _reduce.tax(_forms(DataScope.TAX, records)[1], as_of, top)
    row = {m: month_index(date(2026, m, 1)) - (top - HISTORY_MONTHS) for m in (4, 5, 6, 12)}
    revenue = got["tax_vat_revenue_fen"][0]
    assert [revenue[row[m]] for m in (4, 5, 6)] == [333, 50, 334]  # the remainder in June
    assert got["tax_late_filings"][0][row[5]] == 1
    assert got["tax_late_filings"][0][row[12] - 12] == 1  # December 2025: the annual return
    assert active == [month_index(date(2025, 1, 1))]


def test_refunds_count_in_their_own_month_once_made() -> None:
    records = [{"order_id": "o1", "ordered_on": "2026-08-31", "channel": "ecommerce",
                "amount_fen": 500, "customer_hash": HASHES[0], "refunded": True,
                "refunded_on": "2026-10-01"},
               {"order_id": "o2", "ordered_on": "2026-09-01", "channel": "pos",
                "amount_fen": 70, "customer_hash": HASHES[0], "refunded": True,
                "refunded_on": "2026-11-20"}]
    for back in (0, 1, 50, 51, 81, 82):
        _check(DataScope.SALES, records, back)


def test_bills_paid_late_or_unpaid_past_due_are_late() -> None:
    records = [{"utility": "electricity", "period_month": "2026-09", "usage": 10,
                "amount_fen": 100, "billed_on": "2026-10-02", "due_on": "2026-10-20",
                "paid_on": "2026-10-25"},
               {"utility": "water", "period_month": "2026-09", "usage": 3, "amount_fen": 30,
                "billed_on": "2026-10-02", "due_on": "2026-10-20"},
               {"utility": "electricity", "period_month": "2026-09", "usage": 5,
                "amount_fen": 50, "billed_on": "2026-10-03", "due_on": "2026-10-10",
                "paid_on": "2026-10-09"}]
    for back in (0, 26, 30, 31, 47, 48, 49):
        _check(DataScope.UTILITY, records, back)


def test_a_total_that_could_overflow_int64_is_refused() -> None:
    big = 2 ** 62
    orders = [{"order_id": f"o{i}", "ordered_on": "2026-09-10", "channel": "pos",
               "amount_fen": big, "customer_hash": HASHES[0], "refunded": False}
              for i in range(2)]
    bills = [{"utility": "water", "period_month": "2026-09", "usage": big, "amount_fen": 1,
              "billed_on": "2026-10-02", "due_on": "2026-10-20"} for _ in range(2)]
    top = month_index(PAYLOAD_AS_OF)
    for scope, records in ((DataScope.SALES, orders), (DataScope.UTILITY, bills)):
        for source in _forms(scope, records):
            with pytest.raises(RiskDataError):
                _reduce.REDUCERS[scope](source, PAYLOAD_AS_OF, top)
    beyond = [{**orders[0], "amount_fen": 2 ** 64}]  # not even an int64
    for source in _forms(DataScope.SALES, beyond):
        with pytest.raises(RiskDataError):
            _reduce.sales(source, PAYLOAD_AS_OF, top)


def test_the_synthetic_worlds_businesses_reduce_as_the_reference() -> None:
    """Realistic data: a few businesses of the sample world, each source in both forms."""
    w = world()
    observed = [str(b) for b in w.ids[w.observed(SAMPLE_AS_OF)]][:8]
    for business_id in observed:
        for scope, parsed in fetched(w, business_id, SAMPLE_AS_OF, list(REFERENCE)).items():
            for as_of in (SAMPLE_AS_OF, SAMPLE_AS_OF - timedelta(days=40)):
                top = month_index(as_of)
                for source in (parsed, _typed(parsed)):
                    expected, expected_active = REFERENCE[scope](source, as_of, top)
                    got, active = _reduce.REDUCERS[scope](source, as_of, top)
                    for name, (values, valid) in expected.items():
                        assert np.array_equal(got[name][1], valid), name
                        assert np.array_equal(got[name][0][valid], values[valid]), name
                    assert _earliest(active, top) == _earliest(expected_active, top)
