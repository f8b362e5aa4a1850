"""Portfolio risk over month-end positions: roll rates, vintages, NPL ratio, expected loss and
the loan-loss provision by five-tier class.

Why month-end positions: every figure here compares the book with itself at fixed dates (a
roll rate is where last month's 1-30 bucket is this month), so the month-end job stores one row
per loan and month (`puhui.services.portfolio`) and the figures are pure functions of those
frames, vectorised with Polars and NumPy over the whole book.

A position frame has the columns of `POSITION_SCHEMA`: the loan, its product, origination
date, status at the month end ("active", "closed", "written_off"), days past due, aging bucket,
five-tier class, principal outstanding and accrued receivables (interest, fees, penalty, fen),
and the PD of its decision's model score (null when it was decided without one).

Money stays in integer fen: expected loss and provisions are rounded to whole fen, half up,
from exact decimal rates.  The settings (provision rates per class, LGD per product and
secured-ness, PD floors per class) are data, versioned and hashed (`portfolio_rules/*.json`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from puhui.ledger.accounts import Acct
from puhui.ledger.journal import EntryDraft, Posting
from puhui.loans.delinquency import DEFAULT_POLICY, RISK_CLASSES, RiskClass
from puhui.risk.errors import RiskDataError, RiskError
from puhui.risk.monitoring.vintage import vintage_curves

DEFAULT_SETTINGS = "portfolio-2026.12.json"
ACTIVE, CLOSED, WRITTEN_OFF = "active", "closed", "written_off"
#: Where a loan of last month can be this month besides an aging bucket.
EXITS = (CLOSED, WRITTEN_OFF)

POSITION_SCHEMA: dict[str, Any] = {
    "loan_id": pl.Utf8, "product": pl.Utf8, "currency": pl.Utf8, "originated_on": pl.Date,
    "status": pl.Utf8, "dpd": pl.Int64, "bucket": pl.Utf8, "risk_class": pl.Utf8,
    "principal": pl.Int64, "accrued": pl.Int64, "model_pd": pl.Float64,
}


class InvalidPortfolioSettings(RiskError, ValueError):
    """Portfolio settings that cannot be used; the message names the field."""


# -- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortfolioSettings:
    version: str
    provision_rates: Mapping[RiskClass, Decimal]
    provision_base: str                      # "principal" or "ead"
    lgd_unsecured: Decimal
    lgd_secured: Decimal
    lgd_by_product: Mapping[str, Decimal]
    secured_products: frozenset[str]
    pd_floor_by_class: Mapping[RiskClass, Decimal]
    pd_without_score: Decimal
    sha256: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "PortfolioSettings":
        if not isinstance(raw, Mapping):
            raise InvalidPortfolioSettings("settings are a JSON object")
        known = {"version", "description", "provision_rates", "provision_base", "lgd",
                 "pd_floor_by_class", "pd_without_score"}
        if set(raw) - known:
            raise InvalidPortfolioSettings(f"unknown fields {sorted(set(raw) - known)}")
        version = raw.get("version")
        if not isinstance(version, str) or not 0 < len(version) <= 100:
            raise InvalidPortfolioSettings("version must be text of 1-100 characters")
        rates_raw = raw.get("provision_rates")
        if not isinstance(rates_raw, Mapping) or set(rates_raw) != {c.value for c in RiskClass}:
            raise InvalidPortfolioSettings("provision_rates needs a rate for each of "
                                           f"{[c.value for c in RiskClass]}")
        rates = {RiskClass(k): _fraction(v, f"provision_rates.{k}") for k, v in rates_raw.items()}
        base = raw.get("provision_base", "principal")
        if base not in ("principal", "ead"):
            raise InvalidPortfolioSettings("provision_base must be 'principal' or 'ead'")
        lgd = raw.get("lgd")
        if not isinstance(lgd, Mapping):
            raise InvalidPortfolioSettings("lgd must be an object")
        by_product = lgd.get("by_product", {})
        secured = lgd.get("secured_products", [])
        if not isinstance(by_product, Mapping) or not isinstance(secured, list):
            raise InvalidPortfolioSettings("lgd.by_product is an object, lgd.secured_products "
                                           "a list")
        floors_raw = raw.get("pd_floor_by_class", {})
        if not isinstance(floors_raw, Mapping):
            raise InvalidPortfolioSettings("pd_floor_by_class must be an object")
        try:
            floors = {RiskClass(k): _fraction(v, f"pd_floor_by_class.{k}")
                      for k, v in floors_raw.items()}
        except ValueError as exc:
            if isinstance(exc, InvalidPortfolioSettings):
                raise
            raise InvalidPortfolioSettings(f"pd_floor_by_class: {exc}") from None
        return cls(version, rates, base, _fraction(lgd.get("unsecured"), "lgd.unsecured"),
                   _fraction(lgd.get("secured"), "lgd.secured"),
                   {str(k): _fraction(v, f"lgd.by_product.{k}") for k, v in by_product.items()},
                   frozenset(map(str, secured)), floors,
                   _fraction(raw.get("pd_without_score"), "pd_without_score"),
                   hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":"))
                                  .encode()).hexdigest())

    def lgd_of(self, product: str) -> Decimal:
        if product in self.lgd_by_product:
            return self.lgd_by_product[product]
        return self.lgd_secured if product in self.secured_products else self.lgd_unsecured

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256,
                "provision_base": self.provision_base,
                "provision_rates": {c.value: str(r) for c, r in self.provision_rates.items()}}


def _fraction(value: Any, what: str) -> Decimal:
    """A rate between 0 and 1 written as a decimal string (or an exact number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidPortfolioSettings(f"{what} must be a decimal between 0 and 1, e.g. \"0.25\"")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise InvalidPortfolioSettings(f"{what} must be a decimal, not {value!r}") from None
    if not d.is_finite() or not 0 <= d <= 1:
        raise InvalidPortfolioSettings(f"{what} must be between 0 and 1, not {value!r}")
    return d


def load_settings(source: str | Mapping[str, Any] | None = None) -> PortfolioSettings:
    """The shipped settings (default), shipped ones by file name, or a mapping."""
    if isinstance(source, Mapping):
        return PortfolioSettings.from_dict(source)
    name = source or DEFAULT_SETTINGS
    try:
        text = resources.files("puhui.risk").joinpath("portfolio_rules").joinpath(
            name).read_text("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidPortfolioSettings(f"no shipped portfolio settings {name!r}") from None
    return PortfolioSettings.from_dict(json.loads(text))


# -- positions ------------------------------------------------------------------------------------
def positions_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Position rows (mappings with `POSITION_SCHEMA`'s keys) as a checked frame."""
    frame = pl.DataFrame(list(rows), schema=POSITION_SCHEMA)
    if frame["loan_id"].n_unique() != frame.height:
        raise RiskDataError("a loan appears twice among one month's positions")
    bad = frame.filter(~pl.col("status").is_in([ACTIVE, *EXITS]))
    if bad.height:
        raise RiskDataError(f"unknown loan status {bad['status'][0]!r} in positions")
    return frame


def month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def previous_month_end(d: date) -> date:
    return date.fromordinal(d.replace(day=1).toordinal() - 1)


def _round_fen(values: np.ndarray) -> np.ndarray:
    """Non-negative amounts in fen (float) rounded half up to whole fen."""
    return np.floor(values + 0.5).astype(np.int64)


# -- expected loss --------------------------------------------------------------------------------
def expected_loss(positions: pl.DataFrame, settings: PortfolioSettings) -> pl.DataFrame:
    """Per loan: EAD (principal + accrued), the PD used, LGD and EL = PD x LGD x EAD (fen).

    PD is the decision's model PD (or `pd_without_score` when none), raised to the floor of the
    loan's class (a loan 91+ days past due has defaulted: its floor is 1).  Closed and
    written-off loans have no exposure."""
    active = positions.filter(pl.col("status") == ACTIVE)
    floors = {c.value: float(settings.pd_floor_by_class.get(c, Decimal(0))) for c in RiskClass}
    lgds = {code: float(settings.lgd_of(code)) for code in active["product"].unique().to_list()}
    floor = active["risk_class"].replace_strict(floors, return_dtype=pl.Float64).to_numpy()
    lgd = active["product"].replace_strict(lgds, return_dtype=pl.Float64).to_numpy()
    model = active["model_pd"].fill_null(float(settings.pd_without_score)).to_numpy()
    pd_used = np.clip(np.maximum(model, floor), 0.0, 1.0)
    ead = (active["principal"] + active["accrued"]).to_numpy().astype(np.int64)
    el = _round_fen(pd_used * lgd * ead.astype(np.float64))
    return active.select("loan_id", "product", "risk_class").with_columns(
        pl.Series("ead", ead, dtype=pl.Int64), pl.Series("pd", pd_used),
        pl.Series("lgd", lgd), pl.Series("expected_loss", el, dtype=pl.Int64))


# -- NPL ------------------------------------------------------------------------------------------
def class_table(positions: pl.DataFrame) -> pl.DataFrame:
    """Loans and principal per five-tier class (every class, zero when empty), active loans."""
    active = positions.filter(pl.col("status") == ACTIVE)
    grouped = active.group_by("risk_class").agg(pl.len().cast(pl.Int64).alias("loans"),
                                                pl.col("principal").sum().alias("principal"))
    classes = pl.DataFrame({"risk_class": [c.value for c in RISK_CLASSES]})
    return (classes.join(grouped, on="risk_class", how="left")
            .with_columns(pl.col("loans").fill_null(0), pl.col("principal").fill_null(0)))


def npl_ratio(positions: pl.DataFrame) -> dict[str, Any]:
    """Non-performing (substandard + doubtful + loss) principal over all principal, active
    loans; None for an empty book."""
    table = class_table(positions)
    npl_classes = [c.value for c in RISK_CLASSES if c.non_performing]
    total = int(table["principal"].sum())
    npl = int(table.filter(pl.col("risk_class").is_in(npl_classes))["principal"].sum())
    return {"npl_principal": npl, "total_principal": total,
            "npl_ratio": None if total == 0 else npl / total,
            "classes": table.to_dicts()}


# -- provisions -----------------------------------------------------------------------------------
def provisions(positions: pl.DataFrame, settings: PortfolioSettings) -> list[dict[str, Any]]:
    """The allowance required per five-tier class: base (principal, or EAD) x the class's rate,
    rounded half up to whole fen."""
    active = positions.filter(pl.col("status") == ACTIVE)
    base_col = pl.col("principal") if settings.provision_base == "principal" \
        else pl.col("principal") + pl.col("accrued")
    sums = dict(active.group_by("risk_class").agg(base_col.sum().alias("base")).iter_rows())
    counts = dict(active.group_by("risk_class").agg(pl.len()).iter_rows())
    out = []
    for c in RISK_CLASSES:
        base = int(sums.get(c.value, 0) or 0)
        rate = settings.provision_rates[c]
        amount = int((rate * base).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        out.append({"risk_class": c.value, "loans": int(counts.get(c.value, 0) or 0),
                    "base": base, "rate": str(rate), "provision": amount})
    return out


PROVISION_KEY = "loan-loss-provision:"


def provision_entry(month: date, required: int, previous: int,
                    currency: str = "CNY") -> EntryDraft | None:
    """The month-end adjusting entry moving the allowance from `previous` to `required` (fen):
    Dr provision expense / Cr allowance for an increase, the reverse for a release; None when
    nothing changes.  Its event key names the month, so the ledger takes it once."""
    delta = required - previous
    if required < 0 or previous < 0:
        raise RiskDataError("an allowance is never negative")
    if delta == 0:
        return None
    end = month_end(month)
    what = "increase" if delta > 0 else "release"
    return EntryDraft(end, f"loan-loss provision {end:%Y-%m}: {what} of the allowance from "
                           f"{previous} to {required} fen",
                      (Posting(Acct.PROVISION_EXPENSE, delta, currency),
                       Posting(Acct.LOAN_LOSS_ALLOWANCE, -delta, currency)),
                      event_key=f"{PROVISION_KEY}{end:%Y-%m}").validate()


# -- roll rates -----------------------------------------------------------------------------------
def bucket_labels() -> tuple[str, ...]:
    return DEFAULT_POLICY.bucket_labels


def roll_rates(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Where the loans active at the previous month end are at this one: one row per (from
    bucket, to bucket or exit) with loans, previous principal, and the shares of the from
    bucket's loans (`rate`) and principal (`balance_rate`).  A loan missing from this month's
    positions has closed."""
    start = previous.filter(pl.col("status") == ACTIVE).select(
        "loan_id", pl.col("bucket").alias("from_bucket"), pl.col("principal").alias("balance"))
    end = current.select("loan_id", pl.when(pl.col("status") == ACTIVE).then(pl.col("bucket"))
                         .otherwise(pl.col("status")).alias("to_bucket"))
    moved = (start.join(end, on="loan_id", how="left")
             .with_columns(pl.col("to_bucket").fill_null(CLOSED)))
    table = moved.group_by("from_bucket", "to_bucket").agg(
        pl.len().cast(pl.Int64).alias("loans"), pl.col("balance").sum().alias("balance"))
    totals = moved.group_by("from_bucket").agg(pl.len().alias("from_loans"),
                                               pl.col("balance").sum().alias("from_balance"))
    order = {b: i for i, b in enumerate(bucket_labels() + EXITS)}
    return (table.join(totals, on="from_bucket")
            .with_columns((pl.col("loans") / pl.col("from_loans")).alias("rate"),
                          pl.when(pl.col("from_balance") > 0)
                          .then(pl.col("balance") / pl.col("from_balance"))
                          .otherwise(None).alias("balance_rate"))
            .drop("from_loans", "from_balance")
            .with_columns(pl.col("from_bucket").replace_strict(order, default=99).alias("_f"),
                          pl.col("to_bucket").replace_strict(order, default=99).alias("_t"))
            .sort("_f", "_t").drop("_f", "_t"))


def roll_rate_matrix(rates: pl.DataFrame) -> dict[str, dict[str, float]]:
    """`roll_rates` as {from bucket: {to bucket: share of loans}} with every cell present."""
    columns = bucket_labels() + EXITS
    out = {b: {c: 0.0 for c in columns} for b in bucket_labels()}
    for row in rates.iter_rows(named=True):
        out[row["from_bucket"]][row["to_bucket"]] = row["rate"]
    return out


# -- vintages -------------------------------------------------------------------------------------
def vintage_dpd30(history: pl.DataFrame, as_of: date, threshold: int = 30) -> pl.DataFrame:
    """Cumulative share of each origination month's loans that reached `threshold`+ days past
    due (or were written off) by month on book, from month-end positions (`history`: position
    frames of several months with a `month_end` column).  Censored as
    `risk.monitoring.vintage.vintage_curves` is."""
    if history.height == 0:
        return vintage_curves([], [], as_of)
    loans = history.group_by("loan_id").agg(pl.col("originated_on").first())
    # a loan `dpd` days past due at a month end reached `threshold` days (dpd - threshold) days
    # before it; a write-off counts from the month end it is first seen at
    reached = (pl.col("month_end")
               - pl.duration(days=pl.max_horizontal(pl.col("dpd") - threshold, pl.lit(0))))
    bad = (history.filter((pl.col("dpd") >= threshold) | (pl.col("status") == WRITTEN_OFF))
           .group_by("loan_id").agg(reached.min().alias("bad_on")))
    joined = loans.join(bad, on="loan_id", how="left").with_columns(
        pl.when(pl.col("bad_on").is_not_null())
        .then(pl.max_horizontal(pl.col("originated_on"),
                                pl.min_horizontal(pl.col("bad_on"), pl.lit(as_of))))
        .otherwise(None).alias("bad_on")).sort("loan_id")
    return vintage_curves(joined["originated_on"].to_list(), joined["bad_on"].to_list(), as_of)
