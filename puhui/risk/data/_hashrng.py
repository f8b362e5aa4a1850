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
_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place (`x`: a fresh uint64 array)."""
    x += _GOLDEN
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def _mix_int(x: int) -> int:
    """`_mix` of one value, in Python integers (a NumPy call per scalar costs more)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def bits(seed: int, stream: int, *keys: np.ndarray | int) -> np.ndarray:
    """64 random bits per element of the broadcast keys (an array of at least one dimension)."""
    h, scalars = _mix_int((seed & 0xFFFFFFFF) << 20 ^ stream), 0
    for key in keys:  # the leading scalar keys, in Python integers
        if np.ndim(key):
            break
        h, scalars = _mix_int(h ^ (int(key) & _MASK)), scalars + 1
    out = np.array([h], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys[scalars:]:
            out = _mix(out ^ np.asarray(key, dtype=np.int64).view(np.uint64))
    return out


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
