"""The vectorised line policy gives, row for row, what the scalar evaluator decides."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from puhui.lines.policy import LineFacts, LineHistory, decide, line_facts, load_line_policy
from puhui.lines.vectorised import engaged_column, evaluate_lines
from puhui.loans.product import RateCap

from line_policy_samples import SHIPPED, TODAY

STRESS = json.loads(SHIPPED.canonical_json())
STRESS["rules"] += [
    {"code": "BIG_CUT", "message": "cut", "urgent": True, "action": {"limit_change": "-0.70"},
     "when": {"all": [{"fact": "pd", "op": ">", "value": 0.2},
                      {"fact": "line_utilisation", "op": ">", "value": 0.5}]}},
    {"code": "PRICE_UP", "message": "up {pd}", "urgent": True, "action": {"rate_change": "0.03"},
     "when": {"fact": "pd", "op": ">", "value": 0.1},
     "release": {"fact": "pd", "op": "<", "value": 0.05}},
    {"code": "BIG_RISE", "message": "rise", "action": {"limit_change": "0.50"},
     "when": {"any": [{"fact": "revenue_last_month_fen", "op": ">", "value": 10_000_000},
                      {"fact": "line_status", "op": "==", "value": "frozen"}]}},
    {"code": "THAW", "message": "thaw", "action": {"unfreeze": True},
     "when": {"fact": "months_since_tax_filing", "op": "<=", "value": 1}},
]
POLICIES = [SHIPPED, load_line_policy(STRESS)]


def _random_rows(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []

    def maybe(value, p=0.15):
        return None if rng.random() < p else value
    for i in range(n):
        limit = rng.choice([0, 1_000_000, 10_000_000, 10_012_345, 45_000_000, 50_000_000,
                            rng.randrange(0, 60_000_000)])
        rate = Decimal(rng.choice([60_000, 62_000, 120_000, 130_000, 240_000, 250_000,
                                   rng.randrange(0, 300_000)])) / 1_000_000
        cap = Decimal(rng.choice(["0.24", "0.13", "0.1012345", "0.12"]))
        changed = maybe(TODAY - timedelta(days=rng.choice([0, 3, 6, 7, 8, 40])), 0.4)
        rows.append({
            "line": LineFacts(f"L{i}", limit, rng.randrange(0, limit + 1), rate,
                              rng.choice(["active", "active", "frozen", "closed", "expired"]),
                              TODAY - timedelta(days=rng.choice([2, 6, 7, 100])), changed,
                              rng.choice([50_000_000, 11_000_000, 5_000_000]),
                              RateCap(cap, "cap")),
            "features": {
                "electricity_growth_mom": maybe(rng.choice([0.05, 0.1, 0.15, 0.3, 0.2999, 0.5])),
                "revenue_change_vs_12m": maybe(rng.choice([-0.7, -0.5, -0.4999, -0.3, -0.2, 0])),
                "revenue_last_month_fen": maybe(rng.choice([9_999_999.0, 10_000_001.0, 5e6])),
                "months_since_tax_filing": maybe(rng.choice([1.0, 2.0, 16.0])),
                "pd": maybe(rng.choice([0.01, 0.05, 0.1, 0.15, 0.25])),
            },
            "history": LineHistory(maybe(rng.choice([0, 5, 6, 12])),
                                   maybe(rng.choice([0, 14, 15, 40])), 0,
                                   {c: TODAY - timedelta(days=30) for c in
                                    ("SALES_COLLAPSE", "LATE_PAYMENT", "ELECTRICITY_JUMP",
                                     "PRICE_UP", "ON_TIME_SIX_MONTHS")
                                    if rng.random() < 0.3}),
        })
    return rows


def _frame(rows: list[dict], policy) -> pl.DataFrame:
    columns: dict[str, list] = {c: [] for c in (
        "line_id", "limit", "drawn", "product_max", "rate_micro", "cap_micro", "status",
        "opened_on", "changed_on")}
    features = sorted({k for r in rows for k in r["features"]} | {
        "on_time_months", "days_past_due"})
    for name in features:
        columns[name] = []
    released = [r.code for r in policy.rules if r.release is not None]
    for code in released:
        columns[engaged_column(code)] = []
    for r in rows:
        line = r["line"]
        columns["line_id"].append(line.line_id)
        columns["limit"].append(line.limit)
        columns["drawn"].append(line.drawn)
        columns["product_max"].append(line.product_max)
        columns["rate_micro"].append(line.rate_micro)
        columns["cap_micro"].append(line.cap_micro)
        columns["status"].append(line.status)
        columns["opened_on"].append(line.opened_on)
        columns["changed_on"].append(line.changed_on)
        facts = {**r["features"], **r["history"].facts()}
        for name in features:
            columns[name].append(facts.get(name))
        for code in released:
            columns[engaged_column(code)].append(r["history"].engaged.get(code))
    schema = {name: pl.Float64 for name in features}
    schema.update({"on_time_months": pl.Int64, "days_past_due": pl.Int64,
                   "changed_on": pl.Date, "opened_on": pl.Date})
    schema.update({engaged_column(c): pl.Date for c in released})
    return pl.DataFrame(columns, schema_overrides=schema)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("which", [0, 1])
def test_the_frame_agrees_with_the_scalar_evaluator(seed: int, which: int) -> None:
    policy = POLICIES[which]
    rows = _random_rows(seed, 400)
    out = evaluate_lines(policy, _frame(rows, policy), TODAY)
    assert out.height == len(rows)
    released = [r.code for r in policy.rules if r.release is not None]
    for r, got in zip(rows, out.iter_rows(named=True)):
        facts = line_facts(r["line"], r["features"], r["features"], r["history"], TODAY)
        want = decide(policy, facts, r["line"], r["history"].engaged, TODAY)
        where = f"{r['line']} {r['features']} {r['history']}"
        assert got["limit_new"] == want.limit, where
        assert got["proposed_limit"] == want.proposed_limit, where
        rate = None if want.annual_rate is None else int(want.annual_rate * 1_000_000)
        assert got["rate_new_micro"] == rate, where
        proposed = None if want.proposed_rate is None else int(want.proposed_rate * 1_000_000)
        assert got["proposed_rate_micro"] == proposed, where
        assert got["freeze"] == want.freeze, where
        assert tuple(filter(None, got["fired"].split(","))) == want.fired, where
        assert tuple(filter(None, got["released"].split(","))) == want.released, where
        engaged = {c: got[engaged_column(c)] for c in released
                   if got[engaged_column(c)] is not None}
        assert engaged == want.engaged, where


def test_a_frame_without_the_line_columns_is_refused() -> None:
    from puhui.lines.policy import InvalidLineFacts
    with pytest.raises(InvalidLineFacts, match="limit"):
        evaluate_lines(SHIPPED, pl.DataFrame({"line_id": ["x"]}), TODAY)


def test_a_hundred_thousand_lines_take_about_a_second() -> None:
    import time
    rows = _random_rows(99, 50)
    frame = pl.concat([_frame(rows, SHIPPED)] * 2000)
    t0 = time.perf_counter()
    out = evaluate_lines(SHIPPED, frame, date(2026, 12, 7))
    assert out.height == 100_000
    assert time.perf_counter() - t0 < 5.0
