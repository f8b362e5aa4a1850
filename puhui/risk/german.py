"""The German Credit data (Statlog, 1,000 consumer loans, 30% bad): the risk engine's benchmark.

Why this data set: it is public, small and well studied, so the models can be compared with
published results before they ever see a Puhui applicant.  The file is the labelled CSV in
`../shared/data/germancredit.csv` (relative to the repository), 20 attributes and
`creditability` coded "good"/"bad"; `load_german` turns "bad" into 1 (default).

Protected attributes are split off and never become model inputs by default: the personal
status / sex column (which mixes sex and marital status), age and foreign-worker status.  Credit
decisions must not discriminate on them (PIPL art. 24 asks automated decisions to be fair and
forbids unreasonable differential treatment; the same holds under EU and US credit rules), and a
model can only be checked for disparate impact if they are kept beside it, not inside it.  The
models in this package refuse them as inputs unless told otherwise (`protected=()`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from puhui.risk.errors import DatasetMissing, RiskDataError

#: Environment variable naming the CSV file when no explicit path is given.
ENV_VAR = "PUHUI_GERMAN_CREDIT"
#: The file's place relative to the repository root (the repository is `main/` beside `shared/`).
DEFAULT_PATH = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "germancredit.csv"
TARGET = "creditability"
#: Columns a credit model must not use: sex and marital status, age, nationality.
PROTECTED_ATTRIBUTES: tuple[str, ...] = ("personal_status_and_sex", "age_in_years",
                                         "foreign_worker")
NUMERIC_COLUMNS: tuple[str, ...] = (
    "duration_in_month", "credit_amount", "installment_rate_in_percentage_of_disposable_income",
    "present_residence_since", "age_in_years", "number_of_existing_credits_at_this_bank",
    "number_of_people_being_liable_to_provide_maintenance_for")
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "status_of_existing_checking_account", "credit_history", "purpose",
    "savings_account_and_bonds", "present_employment_since", "personal_status_and_sex",
    "other_debtors_or_guarantors", "property", "other_installment_plans", "housing", "job",
    "telephone", "foreign_worker")
_LABELS = {"good": 0, "bad": 1}


@dataclass(frozen=True)
class GermanCredit:
    """The data set, split three ways: model inputs, the target, and the protected attributes.

    `X` and `protected` share `y`'s row order; `source` is the file read."""

    X: pd.DataFrame
    y: pd.Series
    protected: pd.DataFrame
    source: Path


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: `path` if given, else $PUHUI_GERMAN_CREDIT, else the repository default."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH.resolve()


def load_german(path: str | os.PathLike[str] | None = None) -> GermanCredit:
    """Read and check the German Credit CSV; `y` is 1 for a bad (defaulted) loan, 0 for good.

    Raises `DatasetMissing` when the file is absent and `RiskDataError` when its columns or
    labels are not the expected ones, so a wrong file fails loudly instead of training badly."""
    source = resolve_path(path)
    if not source.is_file():
        raise DatasetMissing(
            f"German Credit data not found at {source}; pass --data PATH or set {ENV_VAR} to "
            "the germancredit.csv file (columns as in the Statlog data, 'creditability' "
            "coded good/bad)")
    try:
        frame = pd.read_csv(source)
    except (OSError, ValueError) as exc:  # pandas parser errors are ValueErrors
        raise RiskDataError(f"cannot read {source} as CSV: {exc}") from exc
    expected = set(NUMERIC_COLUMNS) | set(CATEGORICAL_COLUMNS) | {TARGET}
    missing = sorted(expected - set(frame.columns))
    if missing:
        raise RiskDataError(f"{source} lacks the columns {missing}")
    if frame.empty:
        raise RiskDataError(f"{source} has no rows")
    labels = frame[TARGET].astype(str).str.strip().str.lower()
    unknown = sorted(set(labels) - set(_LABELS))
    if unknown:
        raise RiskDataError(f"{TARGET} must be 'good' or 'bad', found {unknown[:5]}")
    for column in NUMERIC_COLUMNS:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise RiskDataError(f"column {column} must be numeric")
    y = labels.map(_LABELS).astype("int64").rename("bad")
    features = [c for c in frame.columns if c != TARGET]
    inputs = [c for c in features if c not in PROTECTED_ATTRIBUTES]
    X = frame[inputs].copy()
    for column in CATEGORICAL_COLUMNS:
        if column in X:
            X[column] = X[column].astype(str)
    protected = frame[list(PROTECTED_ATTRIBUTES)].copy()
    return GermanCredit(X=X, y=y, protected=protected, source=source)
