"""Record schemas and parse_payload: valid payloads round-trip, bad ones are refused clearly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import PuhuiError
from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SOURCES, parse_payload
from puhui.risk.errors import InvalidRecord, RiskDataError
from risk_data_samples import bill, envelope, event, filing, line, order, report

GOOD = {
    DataScope.TAX: filing(),
    DataScope.SALES: order(refunded_on="2026-03-07"),
    DataScope.UTILITY: bill(),
    DataScope.LOGISTICS: {"waybill_id": "w1", "shipped_on": "2026-03-01",
                          "delivered_on": None, "weight_g": 1200, "fee_fen": 900,
                          "destination_region": "310104"},
    DataScope.BANK_STATEMENT: line("2026-03-01", -500, 1_000),
    DataScope.BUREAU: report(loans=[{"loan_ref": "ab" * 8, "lender_type": "bank",
                                     "opened_on": "2025-01-02", "limit_fen": 100_000,
                                     "balance_fen": 50_000, "status": "open"}],
                             history=[{"month": "2026-03", "overdue_days": 12}],
                             enquiries=[{"enquired_on": "2026-04-01",
                                         "reason": "loan_approval"}]),
    DataScope.APP_BEHAVIOUR: event("2026-03-01T09:30:00+08:00"),
}


@pytest.mark.parametrize("scope", SOURCES, ids=lambda s: s.value)
def test_every_source_round_trips_through_json(scope):
    data = parse_payload(scope, envelope([GOOD[scope]]))
    again = parse_payload(scope.value, data.to_payload())
    assert again == data and data.business_id == "B1" and len(data.records) == 1
    assert data.to_payload()["as_of"] == "2026-05-20"


def test_timestamps_are_kept_in_utc():
    data = parse_payload(DataScope.APP_BEHAVIOUR, envelope([GOOD[DataScope.APP_BEHAVIOUR]]))
    assert data.to_payload()["records"][0]["occurred_at"] == "2026-03-01T01:30:00+00:00"


def _with(scope: DataScope, **changes) -> dict:
    record = dict(GOOD[scope])
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return record


BAD = [
    # (scope, record changes, field named, words in the message)
    (DataScope.TAX, {"tax_paid_fen": ...}, "tax_paid_fen", "Field required"),
    (DataScope.TAX, {"declared_revenue_fen": -1}, "declared_revenue_fen", "greater than or equal"),
    (DataScope.TAX, {"declared_revenue_fen": "12"}, "declared_revenue_fen", "valid integer"),
    (DataScope.TAX, {"declared_revenue_fen": 12.0}, "declared_revenue_fen", "valid integer"),
    (DataScope.TAX, {"declared_revenue_fen": True}, "declared_revenue_fen", "valid integer"),
    (DataScope.TAX, {"period_end": "2025-12-31"}, "period_end", "before period_start"),
    (DataScope.TAX, {"period_end": "2026-03-30"}, "period_end", "last day of a month"),
    (DataScope.TAX, {"filed_on": "2026-03-31"}, "filed_on", "after it ends"),
    (DataScope.TAX, {"filed_on": "2026-06-01"}, "filed_on", "after the payload's as_of"),
    (DataScope.TAX, {"tax_type": "stamp_duty"}, "tax_type", "'vat' or 'income_tax'"),
    (DataScope.TAX, {"notes": "x"}, "notes", "Extra inputs"),
    (DataScope.SALES, {"amount_fen": -100}, "amount_fen", "greater than 0"),
    (DataScope.SALES, {"ordered_on": "2026-13-01"}, "ordered_on", "YYYY-MM-DD"),
    (DataScope.SALES, {"ordered_on": 20260301}, "ordered_on", "YYYY-MM-DD"),
    (DataScope.SALES, {"refunded": False}, "refunded_on", "exactly when refunded"),
    (DataScope.SALES, {"customer_hash": "Bob"}, "customer_hash", "pattern"),
    (DataScope.UTILITY, {"billed_on": "2026-03-31"}, "billed_on", "after it ends"),
    (DataScope.UTILITY, {"paid_on": "2026-05-21"}, "paid_on", "after the payload's as_of"),
    (DataScope.UTILITY, {"period_month": "2026-3"}, "period_month", "YYYY-MM"),
    (DataScope.LOGISTICS, {"weight_g": 0}, "weight_g", "greater than 0"),
    (DataScope.LOGISTICS, {"destination_region": "31010"}, "destination_region", "pattern"),
    (DataScope.BANK_STATEMENT, {"amount_fen": 0}, "amount_fen", "non-zero"),
    (DataScope.BANK_STATEMENT, {"booked_on": "2026-05-21"}, "booked_on", "as_of"),
    (DataScope.BUREAU, {"reported_on": "2026-06-01"}, "reported_on", "as_of"),
    (DataScope.BUREAU, {"enquiries": [{"enquired_on": "2026-05-02", "reason": "loan_approval"}]},
     "enquiries.0.enquired_on", "after the report's reported_on"),
    (DataScope.BUREAU, {"loans": [{"loan_ref": "ab" * 8, "lender_type": "bank",
                                   "opened_on": "2025-01-02", "limit_fen": 100,
                                   "balance_fen": 500, "status": "open"}]},
     "loans.0.status", "exceeds limit_fen"),
    (DataScope.APP_BEHAVIOUR, {"occurred_at": "2026-03-01T09:30:00"}, "occurred_at",
     "time zone"),
    (DataScope.APP_BEHAVIOUR, {"event_type": "hack"}, "event_type", "'login'"),
]


@pytest.mark.parametrize("scope, changes, field, words", BAD,
                         ids=[f"{s.value}-{f}" for s, _, f, _ in BAD])
def test_bad_records_name_source_record_and_field(scope, changes, field, words):
    records = [GOOD[scope], _with(scope, **changes)]
    with pytest.raises(InvalidRecord) as info:
        parse_payload(scope, envelope(records))
    err = info.value
    assert (err.source, err.index, err.field) == (scope.value, 1, field)
    assert str(err).startswith(f"{scope.value} record 1, field {field}: ")
    assert words in str(err)
    assert isinstance(err, RiskDataError) and isinstance(err, PuhuiError)


def test_the_first_record_dated_after_as_of_is_named_not_the_latest():
    lines = [line("2026-05-01", 100, 100), line("2026-05-22", 100, 200),
             line("2026-12-01", 100, 300)]
    with pytest.raises(InvalidRecord, match=r"record 1, field booked_on: 2026-05-22 is after "
                                            r"the payload's as_of \(2026-05-20\)"):
        parse_payload(DataScope.BANK_STATEMENT, envelope(lines))
    orders = [order("2026-05-01"), order("2026-05-02", refunded_on="2026-05-23"),
              order("2026-05-21")]
    with pytest.raises(InvalidRecord, match="record 1, field refunded_on: 2026-05-23"):
        parse_payload(DataScope.SALES, envelope(orders))
    # a timestamp counts by its UTC date: 23:30 at UTC-2 on the 20th is the 21st in UTC
    events = [event("2026-05-20T23:30:00+08:00"), event("2026-05-20T23:30:00-02:00")]
    with pytest.raises(InvalidRecord, match="record 1, field occurred_at: 2026-05-21 is after"):
        parse_payload(DataScope.APP_BEHAVIOUR, envelope(events))
    assert parse_payload(DataScope.APP_BEHAVIOUR, envelope(events[:1])).records


@pytest.mark.parametrize("payload, field, words", [
    ({"as_of": "2026-05-20", "records": []}, "business_id", "Field required"),
    ({"business_id": "B1", "records": []}, "as_of", "Field required"),
    ({"business_id": "B1", "as_of": "2026-05-20"}, "records", "Field required"),
    ({"business_id": "B1", "as_of": "2026-05-20", "records": {}}, "records", "valid list"),
    ({"business_id": "", "as_of": "2026-05-20", "records": []}, "business_id", "at least 1"),
    ({"business_id": "B1", "as_of": "2026-05-20", "records": [], "x": 1}, "x", "Extra"),
])
def test_bad_envelopes_are_refused(payload, field, words):
    with pytest.raises(InvalidRecord) as info:
        parse_payload("tax", payload)
    assert info.value.index is None and info.value.field == field and words in str(info.value)
    assert str(info.value).startswith(f"tax payload, field {field}")


@pytest.mark.parametrize("scope", ["identity", "bank_account", "weather", None, 3])
def test_unknown_scopes_are_refused(scope):
    with pytest.raises(InvalidRecord, match="not a business-data source; choose from"):
        parse_payload(scope, envelope([]))


def test_a_payload_must_be_a_mapping():
    with pytest.raises(InvalidRecord, match="a payload is a JSON object, not list"):
        parse_payload("sales", [order()])


def test_the_first_problem_is_named_and_the_rest_counted():
    records = [order(amount=-1), order(amount=-2)]
    with pytest.raises(InvalidRecord, match=r"record 0, field amount_fen: .*and 1 more"):
        parse_payload("sales", envelope(records))


lines = st.builds(
    lambda day, amount, balance: line(f"2026-04-{day:02d}", amount, balance),
    st.integers(1, 30), st.integers(-10**12, 10**12).filter(bool), st.integers(-10**12, 10**12))


@settings(max_examples=50, deadline=None)
@given(st.lists(lines, max_size=20))
def test_bank_statements_round_trip_exactly(records):
    data = parse_payload(DataScope.BANK_STATEMENT, envelope(records))
    assert data.to_payload()["records"] == records
