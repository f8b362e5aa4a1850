"""The synthetic world: deterministic, its latent propensity drives outcomes, and the data
carries signal (a test that fails if the data were noise)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import Connector, ConnectorSet, SyntheticConnector
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import InvalidParameter, InvalidRecord, RiskDataError, SourceUnavailable
from puhui.risk.features import FEATURES, feature_frame
from risk_data_samples import AS_OF, world

DECISION = date(2025, 7, 10)


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = (SyntheticWorld(300, seed=s) for s in (5, 5, 6))
    assert_frame_equal(a.panel(AS_OF), b.panel(AS_OF))
    assert_frame_equal(a.businesses(), b.businesses())
    assert a.payload(DataScope.TAX, "SB0000002", AS_OF) == b.payload(
        DataScope.TAX, "SB0000002", AS_OF)
    assert not a.panel(AS_OF).equals(c.panel(AS_OF))


@pytest.fixture(scope="module")
def big() -> tuple[SyntheticWorld, pl.DataFrame]:
    w = SyntheticWorld(4000, seed=7)
    frame = feature_frame(w.panel(DECISION), DECISION).join(w.outcomes(DECISION), on="business_id")
    return w, frame


def test_propensity_separates_outcomes(big):
    w, _ = big
    b = w.businesses().join(w.outcomes(DECISION), on="business_id")
    rank = b["propensity"].rank("ordinal") / b.height
    top = b.filter(rank > 0.9)["defaulted"].mean()
    bottom = b.filter(rank <= 0.1)["defaulted"].mean()
    assert 0.03 < b["defaulted"].mean() < 0.15
    assert top > 5 * bottom and top > 0.15


def test_features_carry_signal(big):
    _, frame = big
    X = frame.select(list(FEATURES)).to_numpy().astype(float)
    y = frame["defaulted"].to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=0,
                                                        stratify=y)
    model = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                          LogisticRegression(max_iter=2000, C=0.3)).fit(X_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    assert auc > 0.7
    shuffled = np.random.default_rng(0).permutation(y_train)  # the same model on noise
    noise = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                          LogisticRegression(max_iter=2000, C=0.3)).fit(X_train, shuffled)
    assert roc_auc_score(y_test, noise.predict_proba(X_test)[:, 1]) < 0.62


def test_fraud_patterns_show_in_the_features(big):
    w, frame = big
    f = frame.join(w.businesses().select("business_id", "fraud"), on="business_id")
    honest = f.filter(pl.col("fraud").is_null())

    def median(rows: pl.DataFrame, name: str) -> float:
        return rows[name].drop_nulls().median()

    trips = f.filter(pl.col("fraud") == "round_trip")
    share = "bank_round_trip_share_3m"
    assert median(trips, share) > 0.2 > median(honest, share)
    inflated = f.filter(pl.col("fraud") == "tax_inflate")
    ratio = "tax_sales_consistency"
    assert median(inflated, ratio) > 1.5 > median(honest, ratio) > 0.9
    brushing = f.filter(pl.col("fraud") == "brushing")
    assert (median(brushing, "electricity_per_revenue_3m")
            < 0.8 * median(honest, "electricity_per_revenue_3m"))


def test_seasonality_double_eleven_and_spring_festival():
    w = world()
    months = pl.concat([w.panel(date(2025, m, 20)) for m in (12, 3)])
    shop = months.filter(pl.col("sales_ecommerce_fen") > 0).group_by("month").agg(
        pl.col("sales_ecommerce_fen").sum(), pl.col("sales_gross_fen").sum())
    by_month = {m: r for m, *r in shop.iter_rows()}
    assert by_month[date(2024, 11, 1)][0] > 1.4 * by_month[date(2024, 10, 1)][0]
    spring = (by_month[date(2025, 1, 1)][1] - by_month[date(2025, 1, 1)][0])  # POS in Jan 2025
    assert spring < 0.9 * (by_month[date(2024, 12, 1)][1] - by_month[date(2024, 12, 1)][0])


def test_outcomes_only_for_businesses_alive_and_observed():
    w = world()
    out = w.outcomes(AS_OF, horizon_months=6)
    assert out.schema == pl.Schema({"business_id": pl.String, "defaulted": pl.Boolean,
                                    "default_month": pl.Date})
    assert set(out["business_id"]) <= set(w.ids[w.observed(AS_OF)])
    hit = out.filter(pl.col("defaulted"))
    assert hit["default_month"].null_count() == 0
    assert hit["default_month"].min() >= date(2025, 11, 1)
    assert hit["default_month"].max() < date(2026, 5, 1)
    assert w.outcomes(AS_OF, 12)["defaulted"].sum() >= hit.height


@pytest.mark.parametrize("kwargs, words", [
    ({"n_businesses": 0}, "n_businesses"), ({"n_businesses": 5, "months": 6}, "months"),
    ({"n_businesses": 5, "seed": -1}, "seed"), ({"n_businesses": 5, "seed": 1.5}, "seed"),
    ({"n_businesses": 5, "start": date(2005, 1, 1)}, "Spring Festival"),
])
def test_world_settings_are_checked(kwargs, words):
    with pytest.raises(InvalidParameter, match=words):
        SyntheticWorld(**kwargs)


def test_world_refuses_dates_outside_its_data_and_unknown_businesses():
    w = world()
    for bad in (date(2024, 1, 20), date(2027, 1, 2)):
        with pytest.raises(InvalidParameter, match="must fall after"):
            w.panel(bad)
    with pytest.raises(RiskDataError, match="no business"):
        w.payload(DataScope.TAX, "SB9999999", AS_OF)
    with pytest.raises(InvalidParameter, match="horizon_months"):
        w.outcomes(AS_OF, 0)


def test_connector_set():
    w = world()
    connectors = ConnectorSet.synthetic(w, business_ids={"AP1": "SB0000001"})
    assert len(connectors) == 7 and all(isinstance(c, Connector) for c in connectors.values())
    payload = connectors[DataScope.TAX].fetch("AP1", AS_OF)
    assert payload["business_id"] == "AP1"
    assert payload["records"] == w.payload(DataScope.TAX, "SB0000001", AS_OF)["records"]
    no_logistics = next(str(b) for b, ok in zip(w.ids, w.has_logistics) if not ok)
    with pytest.raises(SourceUnavailable, match="no logistics partner"):
        connectors["logistics"].fetch(no_logistics, AS_OF)
    with pytest.raises(InvalidParameter, match="two connectors for tax"):
        ConnectorSet([SyntheticConnector(w, "tax"), SyntheticConnector(w, "tax")])
    with pytest.raises(InvalidParameter, match="no connector for sales"):
        ConnectorSet([SyntheticConnector(w, "tax")])["sales"]
    with pytest.raises(InvalidRecord, match="not a business-data source"):
        SyntheticConnector(w, "identity")
    with pytest.raises(InvalidParameter, match="not a Connector"):
        ConnectorSet([object()])


def test_the_demo_providers_send_bytes_whose_parse_they_hand_over():
    """The demo's providers answer as a network source does, with the JSON bytes they send and
    their parse; the platform stores the bytes and validates (and packs from) the parse without
    parsing again, so the parse must be exactly the bytes' own (checked for every source, on
    businesses with and without each source) and the bytes canonical (so they pack as
    columns)."""
    import orjson

    from puhui.risk.data.connectors import Received
    from puhui.services.providers import world_connectors
    from puhui.store import payload_codec

    connectors = world_connectors(world(), env={})
    answered = set()
    for n in range(12):
        for scope in connectors:
            try:
                got = connectors[scope].fetch(f"91310000MA1FL{n:05d}", AS_OF)
            except SourceUnavailable:
                continue
            assert isinstance(got, Received)
            assert got.payload == orjson.loads(got.body)
            assert orjson.dumps(orjson.loads(got.body), option=orjson.OPT_SORT_KEYS) == got.body
            assert got.payload["business_id"] == f"91310000MA1FL{n:05d}"
            codec, blob = payload_codec.pack(got.body, parsed=got.payload)
            assert codec.startswith("cols+") == bool(got.payload["records"])
            assert payload_codec.unpack(codec, blob) == got.body
            answered.add(scope)
    assert answered == set(connectors)
