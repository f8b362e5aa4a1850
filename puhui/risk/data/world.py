"""`SyntheticWorld`: thousands of small businesses whose data and defaults share one cause.

Why synthetic: a lender starting out has no labelled small-business data, and tests need data
whose truth is known.  Each business gets a latent default propensity (an annual probability of
default) from a latent risk factor, its sector and its region.  The same factor drives every
source (weaker businesses sell less and more erratically, pay bills late, carry bureau overdues,
burn cash) and the observed outcome, so features computed from the data carry real signal and a
test can tell signal from noise.  Around it: sectors and regions, seasonality (the Spring Festival
dip, 618 and Double-11 for e-commerce), growth and decline, sector-region and idiosyncratic
shocks, deterioration in the months before a default, and four fraud patterns (round-tripped
bank inflows, tax revenue inflated against sales, fake e-commerce orders, and bust-out: a burst
of new devices and loan enquiries before disappearing).

Everything is NumPy over all businesses at once; randomness that a single business's raw records
must reproduce comes from `_hashrng` (a pure function of seed and keys), so `panel(as_of)` for
all businesses equals `monthly_panel` of any one business's payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import polars as pl

from puhui.parties.consent import DataScope
from puhui.parties.synthetic import REGIONS
from puhui.risk.data import _hashrng as hr
from puhui.risk.errors import InvalidParameter, RiskDataError
from puhui.risk.panel import month_index, month_of

SECTORS = ("catering", "retail", "wholesale", "ecommerce", "manufacturing", "services")
_SHARE = np.array([0.22, 0.25, 0.15, 0.13, 0.10, 0.15])
_REVENUE_YUAN = np.array([60e3, 80e3, 250e3, 120e3, 300e3, 50e3])
TICKET_FEN = np.array([900, 1200, 4000, 1500, 12000, 800]) * 100
ECOM_SHARE = np.array([0.25, 0.20, 0.10, 0.92, 0.05, 0.05])
SHIPS = np.array([0.05, 0.60, 0.90, 0.97, 0.90, 0.05])
FEN_PER_WAYBILL = np.array([50_000, 60_000, 300_000, 150_000, 600_000, 50_000])
KWH_PER_YUAN = np.array([0.12, 0.04, 0.02, 0.02, 0.15, 0.03])
WAYBILL_G = np.array([800, 1500, 12000, 1200, 30000, 500])
_SECTOR_RISK = np.array([0.20, 0.0, 0.10, 0.15, 0.0, -0.10])
_FESTIVAL_DIP = np.array([0.60, 0.80, 0.75, 0.90, 0.65, 0.70])
_FESTIVAL_EVE = np.array([1.15, 1.20, 1.10, 1.00, 1.05, 1.00])
#: Spring Festival (Chinese New Year's day), by year.
SPRING_FESTIVAL = {
    2010: date(2010, 2, 14), 2011: date(2011, 2, 3), 2012: date(2012, 1, 23),
    2013: date(2013, 2, 10), 2014: date(2014, 1, 31), 2015: date(2015, 2, 19),
    2016: date(2016, 2, 8), 2017: date(2017, 1, 28), 2018: date(2018, 2, 16),
    2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12),
    2022: date(2022, 2, 1), 2023: date(2023, 1, 22), 2024: date(2024, 2, 10),
    2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
    2028: date(2028, 1, 26), 2029: date(2029, 2, 13), 2030: date(2030, 2, 3),
    2031: date(2031, 1, 23), 2032: date(2032, 2, 11), 2033: date(2033, 1, 31),
    2034: date(2034, 2, 19), 2035: date(2035, 2, 8), 2036: date(2036, 1, 28),
    2037: date(2037, 2, 15), 2038: date(2038, 2, 4), 2039: date(2039, 1, 24),
    2040: date(2040, 2, 12),
}
FRAUD_TYPES = ("round_trip", "tax_inflate", "brushing", "bust_out")
OUTCOME_TAIL = 24  # months simulated past the data for outcomes


@cache
def _month_season(t: int) -> tuple[bool, bool, float]:
    """Whether month t is the Spring Festival's month, the month before it, and its
    e-commerce factor."""
    m = month_of(t)
    festival = SPRING_FESTIVAL[m.year]
    eve = month_of(month_index(festival) - 1)
    is_festival = m.month == festival.month
    ecom = {11: 1.7, 6: 1.25, 12: 1.1}.get(m.month, 1.0) * (0.85 if is_festival else 1.0)
    return is_festival, (m.year, m.month) == (eve.year, eve.month), ecom


class Stream:
    """Names of the hash streams (one per random quantity)."""
    AR, DEFAULT, POS_N, ECOM_N, POS_R, ECOM_R, REFUND_G, REPEAT, FAKE = range(1, 10)
    VAT_LAG, INC_LAG, VAT_LATE, INC_LATE, BILL_DAY, PAY, PAY_LAG, WATER, KWH = range(10, 19)
    WAYBILL, WEIGHT, BANK_W, COST, QUERY, QUERY_PHASE, OVERDUE, OD_DAYS = range(19, 27)
    LOGIN, LOGIN_PHASE, DEVICE, ORDER_PHASE, ORDER_SPLIT, MISC = range(27, 33)


@dataclass(frozen=True)
class Business:
    """What the world says about one business (`propensity` and `fraud` are for tests only)."""

    business_id: str
    sector: str
    region_code: str
    established_on: date
    declared_monthly_revenue_fen: int
    propensity: float
    fraud: str | None


class SyntheticWorld:
    """A population of `n_businesses` observed for `months` months from `start`'s month."""

    def __init__(self, n_businesses: int, seed: int = 0, start: date = date(2024, 1, 1),
                 months: int = 36) -> None:
        for name, value, low in (("n_businesses", n_businesses, 1), ("months", months, 16)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidParameter(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidParameter(f"seed must be a non-negative int, got {seed!r}")
        if not isinstance(start, date):
            raise InvalidParameter(f"start must be a date, got {type(start).__name__}")
        first, last = start.year, month_of(month_index(start) + months + OUTCOME_TAIL).year
        if first - 1 not in SPRING_FESTIVAL or last not in SPRING_FESTIVAL:
            raise InvalidParameter(f"the world must lie within {min(SPRING_FESTIVAL) + 1}-"
                                   f"{max(SPRING_FESTIVAL)} (Spring Festival calendar)")
        self.n, self.seed, self.months = n_businesses, seed, months
        self.s0 = month_index(start)
        self.end = self.s0 + months  # first month without data
        self._static(np.random.default_rng(seed))
        self._defaults()
        self._activity()
        from puhui.risk.data import world_sources as ws
        self.closing = ws.bank_closings(self)

    # -- construction -----------------------------------------------------------------------------
    def _static(self, rng: np.random.Generator) -> None:
        n = self.n
        self.ids = np.array([f"SB{i:07d}" for i in range(n)])
        self.sector = rng.choice(len(SECTORS), size=n, p=_SHARE)
        self.region = rng.integers(0, len(REGIONS), size=n)
        region_risk = rng.normal(0, 0.15, size=len(REGIONS))
        fraud = np.where(rng.random(n) < 0.04, rng.integers(0, len(FRAUD_TYPES), size=n), -1)
        self.fraud = fraud
        self.z = (rng.normal(0, 1, size=n) + _SECTOR_RISK[self.sector]
                  + region_risk[self.region] + np.where(fraud >= 0, 1.5, 0.0)
                  + np.where(fraud == 3, 1.0, 0.0))
        self.pd = 1 / (1 + np.exp(-(-3.0 + 1.1 * self.z)))
        young = rng.random(n) < 0.25
        est_month = np.where(young, self.s0 + rng.integers(-1, self.months - 8, size=n),
                             self.s0 - rng.integers(13, 180, size=n))
        self.est_day = rng.integers(1, 29, size=n)
        self.est_month = est_month
        self.d0 = np.maximum(self.s0, est_month + 1)  # first month with data
        self.base = np.exp(rng.normal(np.log(_REVENUE_YUAN[self.sector] * 100), 0.55)
                           - 0.25 * self.z)
        self.growth = rng.normal(0.004 - 0.006 * self.z, 0.006)
        self.vol = 0.05 + 0.10 / (1 + np.exp(-self.z))
        self.honesty = np.clip(rng.normal(0.97, 0.03, size=n), 0.85, 1.02)
        self.honesty = np.where(fraud == 1, 1.9, self.honesty)
        self.vat_bp = np.where(rng.random(n) < 0.8, 100, 300)
        self.vat_bp = np.where(fraud == 1, 30, self.vat_bp)
        self.quarterly = rng.random(n) < 0.7
        self.ecom = np.clip(ECOM_SHARE[self.sector] * rng.uniform(0.5, 1.3, size=n), 0, 1)
        self.ecom = np.where(self.sector == 3, np.maximum(self.ecom, 0.8), self.ecom)
        size = self.base / (_REVENUE_YUAN[self.sector] * 100)  # bigger shops, bigger tickets
        self.ticket = TICKET_FEN[self.sector] * rng.uniform(0.6, 1.5, size=n) * size ** 0.8
        self.waybill_value = FEN_PER_WAYBILL[self.sector] * size ** 0.8
        self.refund = np.clip(rng.normal(0.02 + 0.01 * self.z, 0.01), 0.001, 0.2)
        self.repeat = np.clip(rng.normal(0.45 - 0.08 * self.z, 0.1), 0.02, 0.9)
        self.has_sales = (rng.random(n) < 0.88) | (self.sector == 3)
        self.has_logistics = rng.random(n) < SHIPS[self.sector]
        self.has_water = rng.random(n) < 0.8
        self.app_start = np.where(rng.random(n) < 0.8, self.d0 + rng.integers(0, 7, size=n),
                                  10 ** 6)
        self.engagement = rng.uniform(2, 22, size=n)
        self.bank_share = rng.uniform(0.6, 1.0, size=n)
        self.cost = rng.normal(0.93 + 0.04 * self.z, 0.03)
        self.buffer = self.base * rng.uniform(0.3, 1.2, size=n) * np.exp(-0.3 * self.z)
        self.n_loans = np.minimum(rng.poisson(0.8 + 0.6 * np.maximum(self.z, 0)), 4)
        self.max_overdue = 1 / (1 + np.exp(-(-4.0 + 1.4 * self.z)))
        self.late_tax = 0.04 + 0.30 / (1 + np.exp(-(1.5 * self.z - 2)))
        self.late_bill = 0.03 + 0.35 / (1 + np.exp(-(1.5 * self.z - 2)))
        # shocks: one per sector-region pair at most, and some businesses' own
        pair_start = np.where(rng.random((len(SECTORS), len(REGIONS))) < 0.3,
                              self.s0 + rng.integers(0, self.months + OUTCOME_TAIL,
                                                     size=(len(SECTORS), len(REGIONS))), -99)
        self.shock_pair = pair_start[self.sector, self.region]
        self.shock_own = np.where(rng.random(n) < 0.12,
                                  self.s0 + rng.integers(0, self.months + OUTCOME_TAIL, size=n),
                                  -99)
        self.shock_len = rng.integers(2, 5, size=n)

    def months_range(self) -> np.ndarray:
        return np.arange(self.s0, self.end + OUTCOME_TAIL)

    def shock(self, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        """1 where business b is hit by a shock in month t (broadcast)."""
        pair = (t >= self.shock_pair[b, None]) & (t < self.shock_pair[b, None] + 3)
        start, length = self.shock_own[b, None], self.shock_len[b, None]
        own = (t >= start) & (t < start + length)
        return pair.astype(float) + own.astype(float)

    def _defaults(self) -> None:
        b = np.arange(self.n)
        t = self.months_range()[None, :]
        hazard = (1 - (1 - self.pd[:, None]) ** (1 / 12)) * (1 + 1.5 * self.shock(b, t))
        draw = hr.uniform(self.seed, Stream.DEFAULT, b[:, None], t)
        hit = (draw < hazard) & (t >= self.d0[:, None])
        self.tau = np.where(hit.any(axis=1), t[0, hit.argmax(axis=1)], 10 ** 6)

    def distress(self, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        """0 far from default, rising to 1 over the six months before it, 1 after."""
        lead = self.tau[b, None] - t
        return np.clip((7 - lead) / 6, 0, 1)

    def _activity(self) -> None:
        """True monthly revenue in fen (before fake orders), one column per world month."""
        b, n = np.arange(self.n), self.n
        ar = np.zeros(n)
        cols = []
        for t in range(self.s0, self.end):
            ar = 0.6 * ar + self.vol * hr.normal(self.seed, Stream.AR, b, t)
            tt = np.array([t])
            level = (np.log(self.base) + self.growth * (t - self.s0) + ar
                     + np.log(1 - 0.45 * self.distress(b, tt)[:, 0])
                     - 0.35 * self.shock(b, tt)[:, 0])
            cols.append(np.where(t >= self.d0, np.exp(level), 0.0))
        self.activity = np.stack(cols, axis=1)

    def season(self, b: np.ndarray, t: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """(POS factor, e-commerce factor) of month t (one month, or each business's own):
        the Spring Festival, 618, Double-11."""
        if np.ndim(t) == 0:
            festival, eve, ecom = _month_season(int(t))
        else:
            festival, eve, ecom = (np.array(x) for x in zip(*map(_month_season, t.tolist())))
        sector = self.sector[b]
        pos = np.where(festival, _FESTIVAL_DIP[sector], np.where(eve, _FESTIVAL_EVE[sector], 1.0))
        return pos, np.broadcast_to(np.asarray(ecom, dtype=np.float64), len(b)).copy()

    # -- public -----------------------------------------------------------------------------------
    def index_of(self, business_id: str) -> int:
        i = int(business_id[2:]) if (isinstance(business_id, str) and len(business_id) == 9
                                     and business_id[2:].isdigit()) else -1
        if not 0 <= i < self.n or self.ids[i] != business_id:
            raise RiskDataError(f"no business {business_id!r} in this world")
        return i

    def businesses(self) -> pl.DataFrame:
        """Ids, sector, region, established_on, declared monthly revenue (fen), and the latent
        propensity and fraud pattern (for tests and benchmarks only: a model never sees them)."""
        established = [month_of(int(m)).replace(day=int(d))
                       for m, d in zip(self.est_month, self.est_day)]
        declared = (np.round(self.base * (1.1 + 0.2 * (self.fraud >= 0)) / 100) * 100)
        return pl.DataFrame({
            "business_id": self.ids, "sector": np.array(SECTORS)[self.sector],
            "region_code": np.array(REGIONS)[self.region], "established_on": established,
            "declared_monthly_revenue_fen": declared.astype(np.int64),
            "propensity": self.pd,
            "fraud": [FRAUD_TYPES[f] if f >= 0 else None for f in self.fraud],
        })

    def business(self, business_id: str) -> Business:
        row = self.businesses().row(self.index_of(business_id), named=True)
        return Business(**row)

    def _check_as_of(self, as_of: date) -> int:
        if not isinstance(as_of, date):
            raise InvalidParameter(f"as_of must be a date, got {type(as_of).__name__}")
        top = month_index(as_of)
        if not self.s0 < top < self.end:
            raise InvalidParameter(f"as_of {as_of} must fall after the world's first month "
                                   f"and within its data ({month_of(self.s0)} to "
                                   f"{month_of(self.end)} exclusive)")
        return top

    def observed(self, as_of: date) -> np.ndarray:
        """Indices of the businesses with at least one complete month of data before as_of."""
        return np.flatnonzero(self.d0 < self._check_as_of(as_of))

    def panel(self, as_of: date) -> pl.DataFrame:
        """The monthly panel (`puhui.risk.panel`) of every observed business, vectorised."""
        from puhui.risk.data import world_panel
        return world_panel.panel(self, self.observed(as_of), as_of)

    def payload(self, scope: DataScope, business_id: str, as_of: date) -> dict:
        """What `scope`'s provider returns for the business on as_of (JSON-ready)."""
        from puhui.risk.data import world_records as wr
        self._check_as_of(as_of)
        return wr.payload(self, DataScope(scope), self.index_of(business_id), as_of)

    def outcomes(self, decision_date: date, horizon_months: int = 12) -> pl.DataFrame:
        """Who defaulted within `horizon_months` of `decision_date`, among the businesses with
        data before it that had not defaulted yet."""
        if not isinstance(horizon_months, int) or not 1 <= horizon_months <= OUTCOME_TAIL:
            raise InvalidParameter(f"horizon_months must be an int in 1..{OUTCOME_TAIL}")
        top = self._check_as_of(decision_date)
        keep = np.flatnonzero((self.d0 < top) & (self.tau >= top))
        tau = self.tau[keep]
        defaulted = tau < top + horizon_months
        return pl.DataFrame({
            "business_id": self.ids[keep], "defaulted": defaulted,
            "default_month": [month_of(int(t)) if d else None for t, d in zip(tau, defaulted)],
        }, schema={"business_id": pl.String, "defaulted": pl.Boolean, "default_month": pl.Date})
