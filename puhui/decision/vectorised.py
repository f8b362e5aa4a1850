"""The engine over a Polars frame: a policy applied to a million businesses at once.

Why a second evaluator rather than a loop over `evaluate`: batch scoring (pre-approved offers,
portfolio what-ifs, back-testing a new policy) runs over whole books, where a Python loop would
take hours; Polars expressions take seconds.  The semantics are exactly those of
`puhui.decision.engine.evaluate` (a property test compares the two on random facts):

- every rule becomes candidate reasons in the scalar rule order, each a Boolean column "this
  reason is given" plus its code and effect; since the scalar engine stops at its first decline
  and only accumulates before it, the first candidate that holds is the first reason, the
  outcome is decline if any decline candidate holds, else refer if any referral holds;
- facts are read by `values.column` (the vectorised `values.read`), conditions by
  `Condition.expr` (Kleene logic on nulls, as `Condition.test`);
- money is exact: the limit is computed in 128-bit integers as
  ``floor(revenue x p / (q x 10000)) x 10000`` where ``p/q`` is the exact ratio of the policy's
  decimal share (and haircut), the same value as the scalar Decimal arithmetic; rates are summed
  in integer millionths and returned as ``Decimal(38, 6)``; a price clipped to the cap is the
  cap in whole millionths rounded down, as `puhui.loans.caps.clip_rate` gives it.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import polars as pl

from puhui.calendar import RATE_SCALE
from puhui.decision import values
from puhui.decision.errors import InvalidFacts
from puhui.decision.policy import Policy
from puhui.loans.product import LoanProduct, RateCap

_HUNDRED_YUAN = 100_00
OUTPUT = ("outcome", "grade", "amount", "annual_rate", "reason")
#: Facts the built-in rules read (the document's rules add their own).
BUILTIN_FACTS = ["kyc_failures", "blacklisted", "data_errors", "pd", "verified_revenue_monthly_fen",
                 "declared_monthly_revenue_fen", "requested_amount_fen", "has_guarantor"]
_DTYPES = {"number": pl.Float64(), "probability": pl.Float64(), "money": pl.Int64(),
           "bool": pl.Boolean(), "string": pl.String()}
_GRADE, _LIMIT, _AMOUNT, _RATE = "__grade", "__limit", "__amount", "__rate"
_OVER = "__over_cap"


def _micro(rate: Decimal) -> int:
    """A rate in whole millionths, rounded down (exact for rates of at most 6 decimals)."""
    return int((rate * RATE_SCALE).to_integral_value(ROUND_FLOOR))


def _by_grade(grade: pl.Expr, table: dict[str, int], otherwise: int | None,
              dtype: pl.DataType) -> pl.Expr:
    expr: pl.Expr | None = None
    for name, value in table.items():
        expr = (pl.when(grade == name) if expr is None else expr.when(grade == name)).then(
            pl.lit(value, dtype=dtype))
    assert expr is not None  # a policy has at least one grade
    return expr.otherwise(pl.lit(otherwise, dtype=dtype))


def evaluate_frame(policy: Policy, facts: pl.DataFrame, product: LoanProduct, *,
                   platform_rate_cap: RateCap | None = None) -> pl.DataFrame:
    """One row per row of `facts` (columns named as the facts; absent columns are missing):
    ``outcome``, ``grade``, ``amount`` (fen), ``annual_rate`` (Decimal) and ``reason`` (the
    first reason's code), exactly as `evaluate` gives them row by row."""
    from puhui.decision.engine import binding_cap

    if not isinstance(policy, Policy):
        raise InvalidFacts("policy must be a validated Policy (see load_policy)")
    if not isinstance(facts, pl.DataFrame):
        raise InvalidFacts(f"facts must be a polars DataFrame, got {type(facts).__name__}")
    if not isinstance(product, LoanProduct):
        raise InvalidFacts("product must be a LoanProduct")
    cap = binding_cap(policy, platform_rate_cap)
    kinds = policy.kinds
    read = list(dict.fromkeys(BUILTIN_FACTS + [
        f for rule in [*policy.knockouts, *policy.pricing.adjustments] for f in rule.when.facts()]))
    # Stage by stage, each result a column: small expression trees plan fast.
    base = facts if facts.width else pl.DataFrame({"__none__": []})
    frame = base.lazy().with_columns(  # every fact as the engine reads it (absent ones null)
        values.column(facts.schema, name, kinds[name]).alias(name) for name in read).select(read)
    schema = {name: _DTYPES[kinds[name]] for name in read}
    candidates: list[tuple[pl.Expr, str, str]] = []

    def col(name: str) -> pl.Expr:
        return pl.col(name)

    def give(when: pl.Expr, code: str, effect: str) -> None:
        candidates.append((when.fill_null(False), code, effect))

    # 1. identity
    failures, listed = col("kyc_failures"), col("blacklisted")
    give(failures.is_null(), "DATA_INCOMPLETE", "refer")
    give(failures > 0, "KYC_FAILED", "decline")
    give(listed.is_null(), "DATA_INCOMPLETE", "refer")
    give(listed, "BLACKLISTED", "decline")
    give(col("data_errors") > 0, "DATA_INCOMPLETE", "refer")
    # 2. knock-outs
    for rule in policy.knockouts:
        fired = rule.when.expr(schema, kinds)
        give(fired, rule.code, rule.action)
        if rule.on_missing != "ignore":
            give(fired.is_null(), "DATA_INCOMPLETE" if rule.on_missing == "refer" else rule.code,
                 rule.on_missing)
    # 3. grade
    bands, pd = policy.grades.bands, col("pd")
    give(pd.is_null(), "DATA_INCOMPLETE" if policy.grades.on_missing == "refer" else "NO_SCORE",
         policy.grades.on_missing)
    grade_expr: pl.Expr | None = None
    for band in bands:
        grade_expr = (pl.when(pd <= band.max_pd) if grade_expr is None
                      else grade_expr.when(pd <= band.max_pd)).then(pl.lit(band.grade))
    frame = frame.with_columns(
        grade_expr.otherwise(pl.lit(None, dtype=pl.String)).alias(_GRADE))  # type: ignore
    grade = pl.col(_GRADE)
    give(pd > bands[-1].max_pd, "HIGH_RISK", "decline")
    zone = policy.grades.refer_pd_between
    if zone is not None:
        give((pd >= zone[0]) & (pd <= zone[1]), "PD_GREY_ZONE", "refer")
    # 4. limit, in whole hundreds of yuan, exact
    limits = policy.limits
    verified, declared = col("verified_revenue_monthly_fen"), col("declared_monthly_revenue_fen")
    requested = col("requested_amount_fen")
    cap_fen = _by_grade(grade, limits.grade_caps_fen, min(limits.grade_caps_fen.values()),
                        pl.Int64())
    ceiling = pl.min_horizontal(cap_fen, pl.lit(product.max_principal, dtype=pl.Int64))
    ceiling_h = (ceiling // _HUNDRED_YUAN).cast(pl.Int128)
    share = limits.share_of_verified_revenue
    p_v, q_v = share.as_integer_ratio()
    p_d, q_d = (share * (1 - limits.declared_revenue_haircut)).as_integer_ratio()
    from_verified = verified.cast(pl.Int128) * p_v // (q_v * _HUNDRED_YUAN)
    from_declared = declared.cast(pl.Int128) * p_d // (q_d * _HUNDRED_YUAN)
    base_h = pl.when(verified.is_not_null()).then(from_verified).otherwise(from_declared)
    limit_h = pl.when(base_h.is_null()).then(ceiling_h).otherwise(
        pl.min_horizontal(base_h, ceiling_h))
    frame = frame.with_columns((limit_h * _HUNDRED_YUAN).cast(pl.Int64).alias(_LIMIT))
    limit = pl.col(_LIMIT)
    give(verified.is_null() & declared.is_not_null(), "REVENUE_UNVERIFIED", "refer")
    give(verified.is_null() & declared.is_null(), "DATA_INCOMPLETE", "refer")
    give(requested.is_null(), "DATA_INCOMPLETE", "refer")
    give(requested > limit, "LIMIT_REDUCED", "note")
    amount = pl.when(requested.is_null() | (requested > limit)).then(limit).otherwise(requested)
    frame = frame.with_columns(amount.alias(_AMOUNT))
    amount = pl.col(_AMOUNT)
    give(amount < product.min_principal, "LOW_LIMIT", "decline")
    # 5. pricing, in millionths
    graded = grade.is_not_null()
    rate = _by_grade(grade, {g: _micro(r) for g, r in policy.pricing.grade_rates.items()},
                     None, pl.Int64())
    for adjustment in policy.pricing.adjustments:
        fired = adjustment.when.expr(schema, kinds)
        applied = fired.fill_null(adjustment.on_missing == "apply")
        give(graded & applied, adjustment.code, "note")
        if adjustment.on_missing in ("refer", "decline"):
            give(graded & fired.is_null(), "DATA_INCOMPLETE"
                 if adjustment.on_missing == "refer" else adjustment.code, adjustment.on_missing)
        rate = rate + pl.when(applied).then(_micro(adjustment.add)).otherwise(0)
    frame = frame.with_columns(rate.alias(_RATE))
    rate = pl.col(_RATE)
    # kept as a column: the clip below replaces the rate column this compares
    frame = frame.with_columns((graded & (rate > _micro(cap.annual_limit))).alias(_OVER))
    over = pl.col(_OVER)
    if policy.pricing.above_cap == "clip":  # offered at the cap, to the millionth, rounded down
        give(over, "RATE_CAPPED", "note")
        frame = frame.with_columns(pl.when(over).then(pl.lit(_micro(cap.annual_limit),
                                                             dtype=pl.Int64))
                                   .otherwise(rate).alias(_RATE))
    else:
        give(over, "RATE_CAP", "decline")
    # 6. referrals
    above = policy.referrals.guarantor_above_fen
    if above is not None:
        give((amount > above) & ~col("has_guarantor").fill_null(False), "NEEDS_GUARANTOR", "refer")
    above = policy.referrals.refer_above_fen
    if above is not None:
        give(amount > above, "LARGE_AMOUNT", "refer")

    names = [f"__candidate_{i}" for i in range(len(candidates))]
    frame = frame.with_columns(w.alias(n) for n, (w, _, _) in zip(names, candidates))
    declined = pl.any_horizontal([pl.col(n) for n, (_, _, e) in zip(names, candidates)
                                  if e == "decline"])
    referred = pl.any_horizontal([pl.lit(False)] + [
        pl.col(n) for n, (_, _, e) in zip(names, candidates) if e == "refer"])
    kept = ~declined
    return frame.select(
        pl.when(declined).then(pl.lit("decline")).when(referred).then(pl.lit("refer"))
        .otherwise(pl.lit("approve")).alias("outcome"),
        pl.when(kept).then(grade).alias("grade"),
        pl.when(kept).then(amount).cast(pl.Int64).alias("amount"),
        pl.when(kept & graded).then(rate).cast(pl.Decimal(38, 6)).truediv(RATE_SCALE)
        .alias("annual_rate"),
        pl.coalesce([pl.when(pl.col(n)).then(pl.lit(code))
                     for n, (_, code, _) in zip(names, candidates)]
                    + [pl.lit(None, dtype=pl.String)]).alias("reason"),
    ).collect()
