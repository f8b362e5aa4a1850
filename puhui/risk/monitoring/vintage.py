"""Vintage curves: the cumulative default rate of each origination month, by months on book.

Why vintages: comparing cohorts at the same age is the only fair way to see whether recent
lending is better or worse than older lending; a book-wide default rate mixes young loans (no
time to default yet) with old ones.

Definitions.  A loan's cohort is its origination month.  Months on book are full calendar
months since origination (`dateutil.relativedelta`'s count).  A loan has defaulted by month on
book k when its default date is less than k full months after origination.  A cohort is shown at
month k only when every one of its loans has been on book at least k full months by the as-of
date (censoring: no figure mixes loans that have reached k months with loans that have not), so
`loans` is the cohort's size on every row, `defaults` counts its loans that defaulted by month k,
and the cumulative default rate = defaults / loans never falls as k grows.  A cohort younger than
one full month has no rows yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from puhui.risk.errors import RiskDataError
from puhui.risk import _arrays

_SCHEMA = {"cohort": pl.Date, "months_on_book": pl.Int64, "loans": pl.Int64,
           "defaults": pl.Int64, "cumulative_default_rate": pl.Float64}


def vintage_curves(origination: Any, default_dates: Any, as_of: Any) -> pl.DataFrame:
    """Loan-level origination dates and default dates (missing = not defaulted) as of a date ->
    one row per (cohort, months_on_book) with loans, defaults and cumulative_default_rate."""
    start = _arrays.dates(origination, "origination")
    defaulted = _arrays.dates(default_dates, "default_dates", allow_missing=True)
    end = _arrays.day(as_of, "as_of")
    _arrays.same_length({"origination": start, "default_dates": defaulted})
    if len(start) == 0:
        return pl.DataFrame(schema=_SCHEMA)
    if (start > end).any():
        raise RiskDataError("origination dates after the as-of date")
    known = ~np.isnat(defaulted)
    if (defaulted[known] > end).any():
        raise RiskDataError("default dates after the as-of date")
    if (defaulted[known] < start[known]).any():
        raise RiskDataError("default dates before origination")
    age = _arrays.months_between(start, end)
    # the month on book in which each default falls: 1 for a default within the first month
    default_month = np.where(known, _arrays.months_between(start, defaulted) + 1, 0)
    loans = pl.DataFrame({"cohort": _arrays.month_start(start), "age": age,
                          "default_month": default_month, "defaulted": known})
    cohorts = (loans.group_by("cohort")
               .agg(pl.len().cast(pl.Int64).alias("loans"), pl.col("age").min().alias("age"))
               .filter(pl.col("age") >= 1))
    grid = (cohorts.with_columns(pl.int_ranges(1, pl.col("age") + 1, dtype=pl.Int64)
                                 .alias("months_on_book"))
            .explode("months_on_book").drop("age"))
    per_month = (loans.filter(pl.col("defaulted"))
                 .group_by("cohort", "default_month")
                 .agg(pl.len().cast(pl.Int64).alias("new_defaults"))
                 .rename({"default_month": "months_on_book"}))
    table = (grid.join(per_month, on=["cohort", "months_on_book"], how="left")
             .with_columns(pl.col("new_defaults").fill_null(0))
             .sort("cohort", "months_on_book")
             .with_columns(pl.col("new_defaults").cum_sum().over("cohort").alias("defaults"))
             .with_columns((pl.col("defaults") / pl.col("loans"))
                           .alias("cumulative_default_rate")))
    return table.select(list(_SCHEMA)).cast(_SCHEMA)


def vintage_figure(table: pl.DataFrame, *, title: str = "Vintage curves") -> Any:
    """A Plotly line chart: one line per cohort, cumulative default rate by months on book."""
    import plotly.graph_objects as go

    missing = set(_SCHEMA) - set(getattr(table, "columns", ()))
    if not isinstance(table, pl.DataFrame) or missing:
        raise RiskDataError(f"a vintage table (from vintage_curves) is needed; missing "
                            f"{sorted(missing)}")
    figure = go.Figure()
    for (cohort,), rows in table.sort("cohort", "months_on_book").group_by(
            "cohort", maintain_order=True):
        figure.add_trace(go.Scatter(
            x=rows["months_on_book"].to_list(), y=rows["cumulative_default_rate"].to_list(),
            mode="lines+markers", name=cohort.strftime("%Y-%m"),
            customdata=np.column_stack([rows["defaults"], rows["loans"]]),
            hovertemplate="MOB %{x}: %{y:.2%} (%{customdata[0]} of %{customdata[1]})"))
    figure.update_layout(title=title, xaxis_title="months on book",
                         yaxis_title="cumulative default rate", yaxis_tickformat=".1%",
                         legend_title="cohort")
    return figure
