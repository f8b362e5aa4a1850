"""A constructed credit data set whose risk drivers are known, shared by the risk tests.

`months` (loan duration) and `account` (checking-account status) drive default; `noise` does
not.  An applicant with a long loan and an overdrawn account must have both named as reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd


def constructed(n: int = 2000, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    months = rng.integers(6, 61, n)
    account = rng.choice(["none", "positive", "overdrawn"], n, p=[0.4, 0.35, 0.25])
    noise = rng.normal(size=n)
    logit = -2.0 + 0.06 * (months - 6) + np.select(
        [account == "overdrawn", account == "positive"], [1.8, 0.6], 0.0)
    bad = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"months": months, "account": account, "noise": noise})
    return X, pd.Series(bad, name="bad")


def applicant(months: int, account: str, noise: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"months": [months], "account": [account], "noise": [noise]})
