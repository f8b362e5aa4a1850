"""Counter-based random numbers: a value is a pure function of (seed, stream, keys).

Why not a `numpy.random.Generator` stream: the synthetic world computes a month of 100,000
businesses at once for the panel, and one business's raw records on demand for a connector; both
must draw the very same numbers, which a sequential stream cannot give without replaying it.
Hashing the keys (splitmix64 finaliser) gives each (business, month, slot) its own number.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN  # a new array: the steps below work in place on it
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def bits(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """64 random bits per element of the broadcast keys."""
    with np.errstate(over="ignore"):
        h = _mix(np.asarray([(seed & 0xFFFFFFFF) << 20 ^ stream], dtype=np.uint64))
        for key in keys:
            h = _mix(h ^ np.asarray(key, dtype=np.int64).astype(np.uint64))
    return h


def uniform(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform on (0, 1)."""
    return ((bits(seed, stream, *keys) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def normal(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    return ndtri(uniform(seed, stream, *keys))


def ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return -((-a) // b)


def spread_days(k: np.ndarray, n: np.ndarray, phase: np.ndarray, days: np.ndarray | int
                ) -> np.ndarray:
    """0-based day in its month of event `k` of `n` spread evenly with a phase in [0, 1000)."""
    return ((1000 * k + phase) * days) // np.maximum(1000 * n, 1)


def count_in_days(n_first: np.ndarray, n: np.ndarray, phase: np.ndarray, days: np.ndarray | int,
                  lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
    """How many of the first `n_first` of `n` spread events fall on 0-based days lo..hi.

    Closed form of `spread_days`, so trailing windows are counted without placing events.
    """
    unit = 1000 * np.asarray(days, dtype=np.int64)
    k_min = ceil_div(1000 * n * lo - phase * days, unit)
    k_end = ceil_div(1000 * n * (hi + 1) - phase * days, unit)
    count = np.minimum(k_end, n_first) - np.maximum(k_min, 0)
    return np.where((hi >= lo) & (n > 0), np.maximum(count, 0), 0)
