"""Facts: the named, plain values a policy can read about one application.

Why a flat mapping of JSON scalars: a policy rule names the fact it reads, the decision record
stores the facts as they were, and a replay evaluates exactly those values again, so nothing a
rule reads may come from anywhere else (no clock, no database, no model call).  Three sources:

- the application (`DecisionRequest`): `APPLICANT_FACTS`;
- the point-in-time features the data connectors computed (``request.data["features"]``,
  ``None`` = missing; ``_fen`` features are whole fen carried as floats): `FEATURE_FACTS`,
  plus any other feature supplied (a policy reading one declares its kind under `facts`);
- the models' scores: `SCORE_FACTS`.

Data problems the connectors report (``request.data["data_errors"]``), a feature mapping that is
absent or not a mapping, and a known feature holding a malformed value (text, NaN, infinity)
are counted in `data_errors` and described in `data_error_detail`; the engine refers such an
application (DATA_INCOMPLETE).  Nothing here raises for bad data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from stdnum.cn import ric

from puhui.decision import values
from puhui.decision.outcome import DecisionRequest, business_months, kyc_failures
from puhui.parties.identity import age_on

if TYPE_CHECKING:
    from puhui.decision.blacklist import Blacklist
    from puhui.decision.scoring import ModelScores

APPLICANT_FACTS: dict[str, str] = {
    "owner_age": "number",                     # whole years on the decision date
    "business_months": "number",               # whole months since establishment (None: unknown)
    "declared_monthly_revenue_fen": "money",   # what the applicant declared
    "requested_amount_fen": "money",
    "has_guarantor": "bool",
    "kyc_failures": "number",                  # failed or missing identity checks
    "kyc_failure_detail": "string",            # one line per failure
    "blacklisted": "bool",
    "blacklist_version": "string",
    "applicant_kind": "string",                # individual_business | enterprise
    "industry": "string",
    "region_code": "string",
    "data_errors": "number",                   # data problems found (see the module docstring)
    "data_error_detail": "string",             # one line per problem
}
_FEATURES = (
    "months_of_history", "revenue_avg_3m_fen", "verified_revenue_monthly_fen",
    "revenue_trend_12m", "revenue_cv_6m", "tax_sales_consistency", "bureau_open_loans",
    "bureau_total_balance_fen", "bureau_overdue_months_12m", "bureau_max_overdue_days",
    "bureau_enquiries_3m", "bureau_enquiries_6m", "utility_late_payments_12m",
    "electricity_growth_yoy", "bank_inflow_outflow_ratio_3m", "bank_min_balance_3m_fen",
    "app_new_devices_30d", "app_logins_30d")
#: The point-in-time features; ``_fen`` ones are money (whole fen carried as floats).
FEATURE_FACTS: dict[str, str] = {
    name: "money" if name.endswith("_fen") else "number" for name in _FEATURES}
SCORE_FACTS: dict[str, str] = {
    "pd": "probability",            # the champion scorecard's calibrated probability of default
    "score": "number",              # the champion's points
    "pd_challenger": "probability",  # the challenger (gradient boosting) model's PD
}
#: Every standard fact and its kind (see `puhui.decision.values`).
FACT_KINDS: dict[str, str] = {**APPLICANT_FACTS, **FEATURE_FACTS, **SCORE_FACTS}
_SHOWN = 200  # characters of a malformed value quoted in a problem


def request_features(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The feature mapping in ``request.data`` made JSON-ready (every standard feature present,
    None when missing) and the data problems found, in a stable order."""
    problems: list[str] = []
    reported = data.get("data_errors", [])
    if isinstance(reported, (list, tuple)):
        problems += [f"connector: {_text(e)}" for e in reported]
    else:
        problems.append(f"data_errors should be a list, got {type(reported).__name__}")
    raw = data.get("features")
    features: dict[str, Any] = {}
    if raw is None:
        problems.append("no features were supplied")
    elif not isinstance(raw, Mapping):
        problems.append(f"features should be a mapping, got {type(raw).__name__}")
    else:
        for name, value in raw.items():
            if not isinstance(name, str) or not name:
                problems.append(f"feature name {name!r} is not text")
            elif name in APPLICANT_FACTS or name in SCORE_FACTS:
                problems.append(f"feature {name} clashes with a fact of the application; ignored")
            else:
                if name in FEATURE_FACTS and value is not None and \
                        values.read(value, FEATURE_FACTS[name]) is None:
                    problems.append(f"feature {name} is malformed: {_text(value)}")
                features[name] = values.plain(value)
    for name in FEATURE_FACTS:
        features.setdefault(name, None)
    return features, problems


def build_facts(request: DecisionRequest, features: Mapping[str, Any],
                scores: "ModelScores | None" = None, *, blacklist: "Blacklist | None" = None,
                problems: Sequence[str] = ()) -> dict[str, Any]:
    """Every fact of one application.  `features` and `problems` come from `request_features`
    (plus any problem met on the way, e.g. a model that could not score); without `scores`
    the score facts are missing; without a `blacklist` nobody is blacklisted."""
    applicant, on = request.applicant, request.on
    birth = ric.get_birth_date(applicant.owner.resident_id)
    kyc = kyc_failures(request)
    hits = blacklist.matches(applicant) if blacklist is not None else []
    facts: dict[str, Any] = {
        "owner_age": age_on(birth, on) if birth <= on else None,
        "business_months": None if applicant.established_on is None
        else business_months(applicant.established_on, on),
        "declared_monthly_revenue_fen": applicant.monthly_revenue,
        "requested_amount_fen": request.requested_amount,
        "has_guarantor": bool(applicant.guarantors),
        "kyc_failures": len(kyc),
        "kyc_failure_detail": "\n".join(r.message for r in kyc) or None,
        "blacklisted": bool(hits),
        "blacklist_version": None if blacklist is None else blacklist.version,
        "applicant_kind": applicant.kind.value,
        "industry": applicant.industry,
        "region_code": applicant.region_code,
        "data_errors": len(problems),
        "data_error_detail": "\n".join(problems) or None,
    }
    facts.update((k, v) for k, v in features.items() if k not in facts and k not in SCORE_FACTS)
    facts["pd"] = None if scores is None else values.plain(scores.pd)
    facts["score"] = None if scores is None else values.plain(scores.score)
    facts["pd_challenger"] = None if scores is None else values.plain(scores.pd_challenger)
    return facts


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
