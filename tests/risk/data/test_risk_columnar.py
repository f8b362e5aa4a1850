"""The columnar validation accepts and refuses exactly what the record models do, with the same
message, and gives the same values (random valid payloads, and the same with one thing broken)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk.data import columnar
from puhui.risk.data.payload import SCHEMAS, SOURCES, parse_payload, parse_records
from puhui.risk.errors import InvalidRecord

AS_OF = date(2026, 5, 20)
FIRST = date(2023, 1, 1)
ZONES = [timezone(timedelta(hours=h)) for h in (-11, -2, 0, 5, 8, 14)]


def _iso(d: date) -> str:
    return d.isoformat()


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


days = st.dates(FIRST, AS_OF)
hashes = st.text("0123456789abcdef", min_size=16, max_size=64)
idents = st.text(min_size=1, max_size=12)
money = st.integers(0, 10**13) | st.just(0) | st.integers(10**18, 10**20)


@st.composite
def _after(draw, start: date, most: int = 40, bound: date = AS_OF) -> date | None:
    """A day from `start` to `most` days later, not after `bound` (None if there is none)."""
    if start > bound:
        return None
    return start + timedelta(days=draw(st.integers(0, min(most, (bound - start).days))))


@st.composite
def tax_filing(draw) -> dict:
    months = draw(st.sampled_from([1, 1, 3, 12]))
    start = draw(st.dates(FIRST, date(2025, 3, 1))).replace(day=1)
    end = start
    for _ in range(months - 1):
        end = (_month_end(end) + timedelta(days=1))
    end = _month_end(end)
    filed = draw(_after(end + timedelta(days=1), 120))
    return {"tax_type": draw(st.sampled_from(["vat", "income_tax"])),
            "period_start": _iso(start), "period_end": _iso(end), "filed_on": _iso(filed),
            "declared_revenue_fen": draw(money), "tax_paid_fen": draw(money)}


@st.composite
def sales_order(draw) -> dict:
    ordered = draw(days)
    record = {"order_id": draw(idents), "ordered_on": _iso(ordered),
              "channel": draw(st.sampled_from(["pos", "ecommerce"])),
              "amount_fen": draw(st.integers(1, 10**9)), "customer_hash": draw(hashes),
              "refunded": draw(st.booleans())}
    if record["refunded"]:
        record["refunded_on"] = _iso(draw(_after(ordered, 30)))
    elif draw(st.booleans()):
        record["refunded_on"] = None
    return record


@st.composite
def utility_bill(draw) -> dict:
    month = draw(st.dates(FIRST, date(2026, 3, 31))).replace(day=1)
    billed = draw(_after(_month_end(month) + timedelta(days=1), 20))
    record = {"utility": draw(st.sampled_from(["electricity", "water"])),
              "period_month": f"{month:%Y-%m}", "usage": draw(st.integers(0, 10**6)),
              "amount_fen": draw(money), "billed_on": _iso(billed),
              "due_on": _iso(billed + timedelta(days=draw(st.integers(0, 60))))}
    paid = draw(st.none() | _after(billed, 50))
    if paid is not None or draw(st.booleans()):
        record["paid_on"] = None if paid is None else _iso(paid)
    return record


@st.composite
def waybill(draw) -> dict:
    shipped = draw(days)
    record = {"waybill_id": draw(idents), "shipped_on": _iso(shipped),
              "weight_g": draw(st.integers(1, 10**7)), "fee_fen": draw(money),
              "destination_region": draw(st.from_regex(r"\A[1-9][0-9]{5}\Z"))}
    delivered = draw(st.none() | _after(shipped, 10))
    if delivered is not None or draw(st.booleans()):
        record["delivered_on"] = None if delivered is None else _iso(delivered)
    return record


@st.composite
def bank_line(draw) -> dict:
    return {"booked_on": _iso(draw(days)),
            "amount_fen": draw(st.integers(-10**14, 10**14).filter(bool)),
            "counterparty_hash": draw(hashes),
            "balance_after_fen": draw(st.integers(-10**14, 10**14) | st.just(10**25))}


@st.composite
def bureau_report(draw) -> dict:
    reported = draw(days)
    loans = []
    for _ in range(draw(st.integers(0, 3))):
        limit = draw(st.integers(1, 10**9))
        status = draw(st.sampled_from(["open", "closed"]))
        loans.append({"loan_ref": draw(hashes), "lender_type": draw(st.sampled_from(
            ["bank", "microfinance", "consumer_finance", "other"])),
            "opened_on": _iso(draw(st.dates(FIRST, reported))), "limit_fen": limit,
            "balance_fen": 0 if status == "closed" else draw(st.integers(0, limit)),
            "status": status})
    history = [{"month": f"{draw(st.dates(FIRST, reported)):%Y-%m}",
                "overdue_days": draw(st.integers(0, 3650))}
               for _ in range(draw(st.integers(0, 3)))]
    enquiries = [{"enquired_on": _iso(draw(st.dates(FIRST, reported))),
                  "reason": draw(st.sampled_from(["loan_approval", "guarantee_review",
                                                  "post_loan_management"]))}
                 for _ in range(draw(st.integers(0, 3)))]
    return {"reported_on": _iso(reported), "loans": loans, "overdue_history": history,
            "enquiries": enquiries}


@st.composite
def app_event(draw) -> dict:
    zone = draw(st.sampled_from(ZONES))
    utc = draw(st.datetimes(datetime(2023, 1, 1), datetime(2026, 5, 20, 23, 59, 59)))
    at = utc.replace(tzinfo=timezone.utc).astimezone(zone)
    return {"occurred_at": at.isoformat(), "event_type": draw(st.sampled_from(
        ["login", "view_dashboard", "view_loan", "apply", "repay", "bind_card",
         "change_password", "logout"])), "session_id": draw(idents), "device_id": draw(idents)}


RECORDS = {DataScope.TAX: tax_filing(), DataScope.SALES: sales_order(),
           DataScope.UTILITY: utility_bill(), DataScope.LOGISTICS: waybill(),
           DataScope.BANK_STATEMENT: bank_line(), DataScope.BUREAU: bureau_report(),
           DataScope.APP_BEHAVIOUR: app_event()}

#: Values put in place of a field: wrong types, edges of ranges and patterns, dates that break
#: an ordering or as_of, values of other fields.
ODD = [None, "12", 12, 12.0, True, False, 0, 1, -1, 3650, 3651, 10**30, -10**30, "", "x" * 128,
       "x" * 129, [], {}, ["2026-03-01"], date(2026, 3, 1),
       datetime(2026, 3, 1, tzinfo=timezone.utc),
       "2026-03-01", "2026-03-31", "2026-02-28", "2026-04-01", "2026-05-20", "2026-05-21",
       "2026-13-01", "2026-02-30", "2026-3-1", " 2026-03-01", "2026-W10-1", "20260301",
       "2022-12-31", "2026-03", "2026-13", "2026- 3", "2026-05", "2026-06",
       "2026-03-01T09:30:00", "2026-03-01T09:30:00+08:00", "2026-05-20T23:30:00-02:00",
       "2026-05-20T23:30:00+08:00", "0001-01-01T00:00:00+01:00", "abcdef0123456789",
       "ABCDEF0123456789", "abcdef0123456789\n", "abcdef012345678", "a" * 64, "a" * 65,
       "310104", "010104", "31010", "3101045", "31010\uff14", "vat", "income_tax", "pos",
       "ecommerce", "electricity", "water", "login", "hack", "open", "closed", "bank",
       "loan_approval"]


def _shifted(text: str, days: int) -> str | None:
    """A date (`YYYY-MM-DD`), month or timestamp text moved by `days` (None if not one)."""
    try:
        if len(text) == 10:
            return (date.fromisoformat(text) + timedelta(days=days)).isoformat()
        if len(text) == 7:
            month = date(int(text[:4]), int(text[5:]), 1) + timedelta(days=31 * days)
            return f"{month:%Y-%m}"
        return (datetime.fromisoformat(text) + timedelta(days=days)).isoformat()
    except (ValueError, TypeError):
        return None


def _near(record: dict, name: str) -> list:
    """Values close to what the rules of `name` allow: each side of a range, of an ordering
    between dates, of a month's end; the other type; a pattern just missed."""
    value, out = record.get(name), []
    dates = [v for v in record.values() if isinstance(v, str) and _shifted(v, 0)]
    if type(value) is bool:
        out += [not value, int(value)]
    elif type(value) is int:
        out += [value - 1, value + 1, -value, 0, 1, -1, float(value), str(value), bool(value)]
    elif isinstance(value, str) and _shifted(value, 0):
        out += [_shifted(value, d) for d in (-31, -1, 1, 31)] + [value[:19], value + " "]
    elif isinstance(value, str):
        out += [value + "x", value.upper(), value[:-1], value[:15], value * 11, "0" + value[1:],
                value + "\n"]
    out += [_shifted(d, k) for d in dates for k in (-1, 0, 1)] + [None]
    return [v for v in out if v is not None] or [None]


def _with(payload: dict, index: int, name: str, value=...) -> dict:
    """`payload` with record `index`'s field `name` set to `value` (removed if `...`)."""
    record = dict(payload["records"][index])
    if value is ...:
        record.pop(name, None)
    else:
        record[name] = value
    records = list(payload["records"])
    records[index] = record
    return {**payload, "records": records}


@st.composite
def cases(draw, scope: DataScope) -> tuple[dict, list[dict]]:
    """A valid payload, and variants of it each with one thing changed: one record's fields
    each set to values near what its rules allow, or left out; one field set to each odd
    value; an unknown field; an earlier as_of; a broken envelope."""
    records = draw(st.lists(RECORDS[scope], max_size=6))
    payload = {"business_id": draw(idents), "as_of": _iso(AS_OF), "records": records}
    variants = []
    if records:
        index = draw(st.integers(0, len(records) - 1))
        record = records[index]
        names = sorted(set(record) | set(SCHEMAS[scope].model_fields))
        for name in names:
            variants += [_with(payload, index, name, v) for v in _near(record, name)]
            variants.append(_with(payload, index, name))
        name = draw(st.sampled_from(names))
        others = [v for r in records for v in r.values()]
        variants += [_with(payload, index, name, v) for v in ODD + others]
        variants.append(_with(payload, index, draw(st.sampled_from(["notes", name + "_x"])), 1))
        texts = {v[:10] for r in records for v in r.values()
                 if isinstance(v, str) and len(v) >= 10 and _shifted(v, 0)}
        variants += [{**payload, "as_of": _shifted(t, k)} for t in texts for k in (-1, 0)]
    variants += [{**payload, "records": v} for v in (tuple(records), {}, None, "[]")]
    variants += [{**payload, "extra": 1}] + [
        {k: v for k, v in payload.items() if k != key} for key in payload]
    variants += [{**payload, "business_id": v} for v in ("", "x" * 129, 12, None)]
    variants += [{**payload, "as_of": v} for v in ("2026-5-20", "2026-05", 20260520, None)]
    return payload, variants


def _outcome(parse, scope, payload):
    try:
        return "accepted", parse(scope, payload)
    except InvalidRecord as exc:
        return "refused", (str(exc), exc.source, exc.index, exc.field)
    except Exception as exc:  # noqa: BLE001 -- the two must fail alike, whatever the failure
        return "raised", type(exc).__name__


def _same_data(fast, reference) -> None:
    assert fast == reference
    assert fast.to_payload() == reference.to_payload()
    for name in SCHEMAS[fast.scope].model_fields:
        assert fast.column(name) == reference.column(name)
    for mine, theirs in zip(fast.records, reference.records, strict=True):
        assert mine.__dict__ == theirs.__dict__
        assert mine.model_fields_set == theirs.model_fields_set
    assert [tuple(getattr(r, n) for n in SCHEMAS[fast.scope].model_fields)
            for r in fast.rows()] == [tuple(r.__dict__.values()) for r in reference.records]


def _agree(scope: DataScope, payload: dict) -> str:
    reference = _outcome(parse_records, scope, payload)
    fast = _outcome(parse_payload, scope, payload)
    assert fast[0] == reference[0], (payload, reference[1])
    if reference[0] == "accepted":
        _same_data(fast[1], reference[1])
    else:
        assert fast[1] == reference[1]
        assert columnar.columns(scope, payload) is None  # never proven valid
    return reference[0]


@pytest.mark.parametrize("scope", SOURCES, ids=lambda s: s.value)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_and_record_models_agree(scope, data):
    payload, variants = data.draw(cases(scope))
    assert _agree(scope, payload) == "accepted"
    if scope is not DataScope.BUREAU:
        assert columnar.columns(scope, payload) is not None  # the fast path took it
    for variant in variants:
        _agree(scope, variant)


def test_a_refused_payload_names_the_first_bad_record_as_before():
    good = {"tax_type": "vat", "period_start": "2026-01-01", "period_end": "2026-03-31",
            "filed_on": "2026-04-10", "declared_revenue_fen": 100, "tax_paid_fen": 6}
    records = [good, good, good, {**good, "declared_revenue_fen": -5},
               {**good, "tax_paid_fen": "7"}]
    payload = {"business_id": "B1", "as_of": "2026-05-20", "records": records}
    with pytest.raises(InvalidRecord) as info:
        parse_payload("tax", payload)
    assert str(info.value) == ("tax record 3, field declared_revenue_fen: Input should be "
                               "greater than or equal to 0 (got -5); and 1 more problem(s)")


def test_records_are_built_from_columns_only_when_asked():
    payload = {"business_id": "B1", "as_of": "2026-05-20", "records": [
        {"booked_on": "2026-05-01", "amount_fen": -500, "counterparty_hash": "ab" * 8,
         "balance_after_fen": 1_000}]}
    data = parse_payload("bank_statement", payload)
    assert data.record_count == 1 and data.column("amount_fen") == [-500]
    assert data.rows()[0].booked_on == date(2026, 5, 1)
    assert data.records[0].counterparty_hash == "ab" * 8
    assert data == parse_records("bank_statement", payload)
    with pytest.raises(AttributeError):
        data.as_of = date(2026, 5, 21)
    with pytest.raises(KeyError):
        data.column("booked_at")


def test_inputs_no_json_gives_are_left_to_the_models():
    import numpy as np

    record = {"order_id": "o", "ordered_on": "2026-03-01", "channel": "pos", "amount_fen": 5,
              "customer_hash": "ab" * 8, "refunded": False, "refunded_on": np.array([1, 2])}
    payload = {"business_id": "B1", "as_of": "2026-05-20", "records": [record]}
    assert columnar.columns(DataScope.SALES, payload) is None
    with pytest.raises(InvalidRecord, match="record 0, field refunded_on: Value error, must be "
                                            "a date written YYYY-MM-DD"):
        parse_payload("sales", payload)
    dated = {**payload, "records": [{**record, "ordered_on": date(2026, 3, 1),
                                     "refunded_on": None}]}
    assert parse_payload("sales", dated).column("ordered_on") == [date(2026, 3, 1)]


@pytest.mark.parametrize("refund", [{"refunded": True}, {"refunded": True, "refunded_on": None},
                                    {"refunded": False, "refunded_on": "2026-03-02"}])
def test_a_refund_and_its_date_go_together_even_when_the_date_is_left_out(refund):
    """A refunded order counts from its refund's date (point in time), so a refund without a
    date, or a date without a refund, is refused by both passes, naming the field; leaving the
    date out of an order that was not refunded is fine."""
    record = {"order_id": "o", "ordered_on": "2026-03-01", "channel": "pos", "amount_fen": 5,
              "customer_hash": "ab" * 8, **refund}
    payload = {"business_id": "B1", "as_of": "2026-05-20", "records": [record]}
    assert columnar.columns(DataScope.SALES, payload) is None
    for parse in (parse_payload, parse_records):
        with pytest.raises(InvalidRecord, match="^sales record 0, field refunded_on: Value "
                                                "error, set exactly when refunded is true"):
            parse("sales", payload)
    kept = {**record, "refunded": False}
    kept.pop("refunded_on", None)
    assert parse_payload("sales", {**payload, "records": [kept]}).record_count == 1
