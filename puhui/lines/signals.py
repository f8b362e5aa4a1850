"""The monitoring signals a line policy reads beyond the credit features: how the business moved
since last month, and how the borrower has repaid.

Why a module of its own: the credit features (`puhui.risk.features`) describe a business over
quarters and years, for a decision taken once; a line follows it month by month, so it needs
short-term signals (electricity use month on month, last month's sales against the year's
average, months since the last tax filing) and the line's own repayment record.  The signals
are computed from the same monthly panel as the features (`puhui.risk.panel`), so what was
known on `as_of` is all that counts, by one Polars definition for one business and for a whole
book (`monitoring_frame`), and `monitoring_features` for one business runs exactly that.

Fresh data arrives a month or a day at a time (a partner pushes last month's electricity bill);
`merge_payloads` folds every payload received for a scope into one, the latest record of each
natural key winning, so a push adds to the history instead of replacing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from puhui.parties.consent import DataScope
from puhui.risk.data.merged_state import RECORD_KEYS as _RECORD_KEYS
from puhui.risk.data.payload import SourceData
from puhui.risk.panel import ROWS, add_months, month_index, monthly_panel

#: The signals `monitoring_frame` computes, with what they mean (docs/line-policy.md).
SIGNALS: dict[str, str] = {
    "electricity_growth_mom": "electricity use billed for the last complete month / the month "
                              "before, minus 1 (None unless both are billed and the earlier > 0)",
    "revenue_change_vs_12m": "net sales of the last complete month / the average month of the "
                             "12 before it, minus 1 (None with fewer than 3 such months or a "
                             "non-positive average)",
    "revenue_last_month_fen": "net sales of the last complete month, fen",
    "months_since_tax_filing": "complete months since the latest month covered by a VAT filing "
                               f"available on as_of (1 = last month; {ROWS} = none in the "
                               "panel; None without tax data)",
}
#: The natural key of a record of each scope: a later payload's record replaces an earlier one
#: (defined beside the merged state that keeps them: `puhui.risk.data.merged_state`).
RECORD_KEYS: dict[DataScope, tuple[str, ...]] = _RECORD_KEYS


def monitoring_frame(panel: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """One row per business of a monthly panel built for `as_of`: `business_id` and `SIGNALS`."""
    top = month_index(as_of)
    k = (pl.lit(top, dtype=pl.Int64) - (pl.col("month").dt.year().cast(pl.Int64) * 12
                                         + pl.col("month").dt.month().cast(pl.Int64) - 1))
    active = pl.col("first_activity_month").is_not_null() & (
        pl.col("month") >= pl.col("first_activity_month"))
    net = (pl.col("sales_gross_fen") - pl.col("sales_refunded_fen")).cast(pl.Float64)
    billed = pl.col("elec_billed") == 1
    kwh = pl.col("elec_kwh").cast(pl.Float64)
    grouped = panel.lazy().with_columns(k.alias("_k"), active.alias("_act")).group_by(
        "business_id", maintain_order=True).agg(
        kwh.filter((pl.col("_k") == 1) & billed).first().alias("_kwh1"),
        kwh.filter((pl.col("_k") == 2) & billed).first().alias("_kwh2"),
        net.filter((pl.col("_k") == 1) & pl.col("_act")).first().alias("_net1"),
        net.filter((pl.col("_k") >= 2) & (pl.col("_k") <= 13) & pl.col("_act")).sum()
        .alias("_base_sum"),
        net.filter((pl.col("_k") >= 2) & (pl.col("_k") <= 13) & pl.col("_act")).count()
        .alias("_base_n"),
        pl.col("_k").filter((pl.col("tax_vat_covered") == 1) & (pl.col("_k") >= 1)).min()
        .alias("_tax_k"),
        pl.col("tax_vat_covered").is_not_null().any().alias("_has_tax"))
    kwh1, kwh2, net1 = pl.col("_kwh1"), pl.col("_kwh2"), pl.col("_net1")
    base_n = pl.col("_base_n")
    mean = pl.col("_base_sum") / base_n.cast(pl.Float64)
    return grouped.select(
        "business_id",
        pl.when(kwh1.is_not_null() & (kwh2 > 0)).then(kwh1 / kwh2 - 1.0)
        .otherwise(None).alias("electricity_growth_mom"),
        pl.when(net1.is_not_null() & (base_n >= 3) & (mean > 0)).then(net1 / mean - 1.0)
        .otherwise(None).alias("revenue_change_vs_12m"),
        net1.alias("revenue_last_month_fen"),
        pl.when(pl.col("_has_tax")).then(
            pl.col("_tax_k").fill_null(ROWS).cast(pl.Float64)).otherwise(None)
        .alias("months_since_tax_filing"),
    ).collect()


def monitoring_features(data: Mapping[DataScope, SourceData], as_of: date) -> dict[str, Any]:
    """`SIGNALS` of one business from its sources' data (None each without data)."""
    if not data:
        return {name: None for name in SIGNALS}
    row = monitoring_frame(monthly_panel(data, as_of), as_of).row(0, named=True)
    return {name: row[name] for name in SIGNALS}


def merge_payloads(scope: DataScope, payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every payload received for one scope of one business, oldest first, as one payload: the
    latest `as_of`, and the records of all of them with a later record replacing an earlier
    one of the same natural key (`RECORD_KEYS`; the bureau's report, a snapshot, is the latest
    payload's alone)."""
    if not payloads:
        raise ValueError("nothing to merge")
    latest = max(payloads, key=lambda p: str(p.get("as_of", "")))
    if scope is DataScope.BUREAU or scope not in RECORD_KEYS:
        return dict(payloads[-1])
    fields = RECORD_KEYS[scope]
    merged: dict[tuple, Any] = {}
    for payload in payloads:
        for record in payload.get("records", []):
            merged[tuple(str(record.get(f)) for f in fields)] = record
    return {"business_id": latest["business_id"], "as_of": latest["as_of"],
            "records": list(merged.values())}


# -- repayment behaviour ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    """One instalment of a loan under the line: when it fell due and the day it was fully
    settled (None while it is not)."""

    due: date
    settled_on: date | None


def repayment_facts(dues: Iterable[Due], today: date, since: date | None = None) -> dict[str, int]:
    """The behaviour facts of a line's loans on `today`:

    - ``on_time_months``: calendar months with an instalment due, from the latest back, each
      with every instalment due in it settled by its due date, counted until the first month
      that was not (only months from `since`, the line's last re-pricing, count: a rule that
      rewards six months on time rewards each six once);
    - ``days_past_due``: days since the oldest instalment due before today and not settled by
      today (0 when none);
    - ``missed_instalments_6m``: instalments due in the six months up to today not settled by
      their due date.
    """
    past = sorted((d for d in dues if d.due < today), key=lambda d: d.due)
    late = [d for d in past if d.settled_on is None or d.settled_on > d.due]
    open_ = [d for d in past if d.settled_on is None or d.settled_on > today]
    dpd = (today - open_[0].due).days if open_ else 0
    window = add_months(today, -6)
    missed = sum(1 for d in late if d.due > window)
    months: dict[int, bool] = {}
    for d in past:
        if since is not None and d.due < since:
            continue
        m = month_index(d.due)
        on_time = d.settled_on is not None and d.settled_on <= d.due
        months[m] = months.get(m, True) and on_time
    streak = 0
    for m in sorted(months, reverse=True):
        if not months[m]:
            break
        streak += 1
    return {"on_time_months": streak, "days_past_due": dpd, "missed_instalments_6m": missed}
