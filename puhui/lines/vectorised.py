"""A line policy over a Polars frame: a whole book of lines re-evaluated at once.

Why a second evaluator: after a data refresh every watched line is re-evaluated (200,000 lines
in a few seconds, where a Python loop over `policy.evaluate` would take minutes), as
`puhui.decision.vectorised.evaluate_frame` does for credit policies.  The semantics are exactly
those of `puhui.lines.policy.decide`, row for row (a property test compares the two on random
frames with missing facts, engaged rules, frozen lines and boundary values):

- facts are read by `values.column` and conditions by `Condition.expr` (Kleene logic on nulls);
- each rule gives two candidate columns (it fires, or its release acts), filtered by the
  minimum interval, then by the line's status after the freezes and unfreezes;
- limits are exact integers (Int128 during the arithmetic), rates and changes whole millionths,
  with the bounds of `policy.bounded_limit` and `policy.bounded_rate`.

The frame has one row per line:

    line_id (str), limit, drawn, product_max (Int64 fen), rate_micro, cap_micro (Int64
    millionths), status (str), opened_on, changed_on (Date; changed_on null when never changed),
    engaged__<CODE> (Date, optional: the day a rule with a release engaged, null when not),
    and any fact columns (features, signals, scores, behaviour), absent ones missing.

The result has `line_id`, `limit_new`, `rate_new_micro` (null: unchanged), `freeze` (true,
false, or null: unchanged), `proposed_limit`, `proposed_rate_micro`, `fired` and `released`
(codes joined by ","), and `engaged__<CODE>` after the decision for every rule with a release.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from puhui.decision import values
from puhui.lines.policy import (LINE_STATE_FACTS, MICRO, OPEN_STATUSES, Action, InvalidLineFacts,
                                LinePolicy)

_DTYPES = {"number": pl.Float64(), "probability": pl.Float64(), "money": pl.Int64(),
           "bool": pl.Boolean(), "string": pl.String()}
LINE_COLUMNS = ("line_id", "limit", "drawn", "product_max", "rate_micro", "cap_micro", "status",
                "opened_on", "changed_on")


def engaged_column(code: str) -> str:
    return f"engaged__{code}"


def _m(d: object) -> int:
    return int(d * MICRO)  # type: ignore[operator]


def line_state_exprs(today: date) -> dict[str, pl.Expr]:
    """The line's own facts (`policy.LINE_STATE_FACTS`) from the line columns, as
    `policy.line_facts` computes them for one line."""
    since = pl.coalesce(pl.col("changed_on"), pl.col("opened_on"))
    today_lit = pl.lit(today, dtype=pl.Date)
    return {
        "line_limit_fen": pl.col("limit").cast(pl.Int64),
        "line_drawn_fen": pl.col("drawn").cast(pl.Int64),
        "line_utilisation": pl.when(pl.col("limit") != 0).then(
            pl.col("drawn").cast(pl.Float64) / pl.col("limit").cast(pl.Float64)),
        "line_annual_rate": pl.col("rate_micro").cast(pl.Float64) / MICRO,
        "line_status": pl.col("status").cast(pl.String),
        "days_since_change": (today_lit - since).dt.total_days(),
        "line_age_days": (today_lit - pl.col("opened_on")).dt.total_days(),
    }


def evaluate_lines(policy: LinePolicy, frame: pl.DataFrame, today: date) -> pl.DataFrame:
    """Every line of `frame` re-evaluated on `today` (see the module's doc)."""
    if not isinstance(policy, LinePolicy):
        raise InvalidLineFacts("policy must be a validated LinePolicy")
    if not isinstance(frame, pl.DataFrame):
        raise InvalidLineFacts(f"frame must be a polars DataFrame, got {type(frame).__name__}")
    missing = [c for c in LINE_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidLineFacts(f"a frame of lines needs the columns {missing}")
    kinds = policy.kinds
    released_rules = [r for r in policy.rules if r.release is not None]
    for rule in released_rules:
        if engaged_column(rule.code) not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias(engaged_column(rule.code)))
    limit, rate = pl.col("limit").cast(pl.Int128), pl.col("rate_micro").cast(pl.Int64)
    since = pl.coalesce(pl.col("changed_on"), pl.col("opened_on"))
    today_lit = pl.lit(today, dtype=pl.Date)
    state = line_state_exprs(today)
    read = sorted({f for r in policy.rules for c in (r.when, r.release) if c is not None
                   for f in c.facts()})
    facts = [state[n].alias(n) if n in LINE_STATE_FACTS
             else values.column(frame.schema, n, kinds[n]).alias(n) for n in read]
    lazy = frame.lazy().with_columns(facts)
    schema = {n: _DTYPES[kinds[n]] for n in read}
    is_open = pl.col("status").is_in(list(OPEN_STATUSES))
    too_soon = (today_lit - since).dt.total_days() < policy.min_days_between_changes

    # candidates: (column name, action, rule, releasing)
    cand: list[tuple[str, Action, str, bool]] = []
    exprs: list[pl.Expr] = []
    quiet: dict[str, str] = {}   # rules released without an action
    for i, rule in enumerate(policy.rules):
        engaged = (pl.col(engaged_column(rule.code)).is_not_null() if rule.release is not None
                   else pl.lit(False))
        fires = is_open & ~engaged & rule.when.expr(schema, kinds).fill_null(False)
        fname = f"__fire_{i}"
        exprs.append(fires.alias(fname))
        cand.append((fname, rule.action, rule.code, False))
        if rule.release is not None:
            lets_go = is_open & engaged & rule.release.expr(schema, kinds).fill_null(False)
            rname = f"__release_{i}"
            exprs.append(lets_go.alias(rname))
            if rule.on_release is not None:
                cand.append((rname, rule.on_release, rule.code, True))
            else:
                quiet[rule.code] = rname
    lazy = lazy.with_columns(exprs)
    urgent = {r.code: r.urgent for r in policy.rules}
    kept = {name: pl.col(name) & (pl.lit(urgent[code] and not releasing) | ~too_soon)
            for name, _, code, releasing in cand}
    lazy = lazy.with_columns(k.alias(f"{n}__kept") for n, k in kept.items())

    def any_of(test) -> pl.Expr:  # type: ignore[no-untyped-def]
        return pl.any_horizontal([pl.lit(False)] + [pl.col(f"{n}__kept") for n, a, _, _ in cand
                                                    if test(a)])

    freeze, unfreeze = any_of(lambda a: a.freeze), any_of(lambda a: a.unfreeze)
    lazy = lazy.with_columns(freeze.alias("__freeze"), unfreeze.alias("__unfreeze"))
    freeze, unfreeze = pl.col("__freeze"), pl.col("__unfreeze")
    frozen_after = ((pl.col("status") == "frozen") & ~unfreeze) | freeze
    acting: dict[str, pl.Expr] = {}
    for name, action, _, _ in cand:
        act = pl.col(f"{name}__kept")
        if action.favours_borrower:
            act = act & ~frozen_after
        if action.unfreeze:
            act = act & ~freeze
        acting[name] = act
    lazy = lazy.with_columns(a.alias(f"{n}__acting") for n, a in acting.items())

    def total(field: str) -> pl.Expr:
        parts = [pl.when(pl.col(f"{n}__acting")).then(pl.lit(_m(getattr(a, field)),
                                                             dtype=pl.Int64)).otherwise(0)
                 for n, a, _, _ in cand if getattr(a, field) is not None]
        return pl.sum_horizontal([pl.lit(0, dtype=pl.Int64)] + parts)

    lazy = lazy.with_columns(total("limit_change").alias("__pct"),
                             total("rate_change").alias("__pp"))
    pct, pp = pl.col("__pct").cast(pl.Int128), pl.col("__pp").cast(pl.Int64)
    b, unit = policy.limits, policy.limits.unit_fen
    proposed = limit * (MICRO + pct) // MICRO
    up = limit * (MICRO + _m(b.max_step_up)) // MICRO
    down = (limit * (MICRO - _m(b.max_step_down)) + (MICRO - 1)) // MICRO  # rounded up
    value = pl.min_horizontal(pl.max_horizontal(proposed, down), up)
    ceiling = pl.min_horizontal(pl.lit(b.max_fen, dtype=pl.Int128),
                                pl.col("product_max").cast(pl.Int128))
    value = pl.min_horizontal(pl.max_horizontal(value, pl.lit(b.min_fen, dtype=pl.Int128)),
                              ceiling)
    bounded = pl.when(pct > 0).then(pl.max_horizontal(limit, value // unit * unit)).otherwise(
        pl.min_horizontal(limit, (value + (unit - 1)) // unit * unit))
    lazy = lazy.with_columns(
        pl.when(pct != 0).then(proposed).cast(pl.Int64).alias("proposed_limit"),
        pl.when((pct != 0) & (bounded != limit)).then(bounded).cast(pl.Int64).alias("limit_new"))
    p = policy.pricing
    step = _m(p.max_step)
    moved = rate + pl.min_horizontal(pl.max_horizontal(pp, pl.lit(-step)), pl.lit(step))
    top = pl.min_horizontal(pl.lit(_m(p.max_rate), dtype=pl.Int64),
                            pl.col("cap_micro").cast(pl.Int64))
    moved = pl.min_horizontal(pl.max_horizontal(moved, pl.lit(_m(p.min_rate), dtype=pl.Int64)),
                              top)
    priced = pl.when(pp < 0).then(pl.min_horizontal(rate, moved)).otherwise(
        pl.max_horizontal(rate, moved))
    new_rate = pl.when((pp != 0) & (priced != rate)).then(priced)
    cap = pl.col("cap_micro").cast(pl.Int64)
    new_rate = pl.when(is_open & (pl.coalesce(new_rate, rate) > cap)).then(cap).otherwise(new_rate)
    status = pl.col("status")
    lazy = lazy.with_columns(
        pl.when(pp != 0).then(rate + pp).alias("proposed_rate_micro"),
        new_rate.alias("rate_new_micro"),
        pl.when(freeze & (status == "active")).then(pl.lit(True))
        .when(unfreeze & ~freeze & (status == "frozen")).then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean)).alias("freeze"))

    def codes(names: list[tuple[str, str]]) -> pl.Expr:
        if not names:
            return pl.lit("")
        return pl.concat_str([pl.when(pl.col(col)).then(pl.lit(code)) for col, code in names],
                             separator=",", ignore_nulls=True)

    fired = [(f"{n}__acting", code) for n, _, code, rel in cand if not rel]
    released_names = {code: f"{n}__acting" for n, _, code, rel in cand if rel}
    released_names.update(quiet)
    released = [(released_names[r.code], r.code) for r in policy.rules
                if r.code in released_names]
    after = []
    for rule in released_rules:
        col = engaged_column(rule.code)
        fire = next(f"{n}__acting" for n, _, code, rel in cand if code == rule.code and not rel)
        gone = pl.col(released_names[rule.code])
        after.append(pl.when(gone).then(pl.lit(None, dtype=pl.Date))
                     .when(pl.col(fire)).then(today_lit).otherwise(pl.col(col)).alias(col))
    return lazy.select(
        "line_id", "limit_new", "rate_new_micro", "freeze", "proposed_limit",
        pl.col("proposed_rate_micro").cast(pl.Int64), codes(fired).alias("fired"),
        codes(released).alias("released"), *after).collect()
