"""Submission with the risk engine: consented data only, features as of the business date, a
decision record an officer can read and replay, and bad provider data referred, never a 500."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import ConnectorSet
from puhui.risk.data.payload import SOURCES
from puhui.services.access import SYSTEM
from puhui.services.applicants import load_applicant
from puhui.services.data import stored_payloads
from puhui.services.providers import WorldProvider, world_business
from puhui.store.platform_models import ConsentLogRow

from api_samples import START

EVERY_SCOPE = tuple(s.value for s in DataScope)


def _submit(api, applicant_id: str) -> dict:
    r = api.post("/v1/applications", {"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                      "amount": 10_000_000, "submit": True})
    assert r.status_code == 201, r.text
    return r.json()


def _with_history(api) -> str:
    """An applicant whose linked business has traded before START (most have)."""
    world = next(iter(api.platform.connectors.values())).world
    observed = set(world.observed(START).tolist())
    for _ in range(20):
        applicant_id, _, body = api.onboard(scopes=EVERY_SCOPE)
        if world.index_of(world_business(world, body["uscc"])) in observed:
            return applicant_id
    raise AssertionError("no applicant with history in 20 tries")


def test_a_decision_keeps_a_record_that_replays(risk_api) -> None:
    applicant_id = _with_history(risk_api)
    app = _submit(risk_api, applicant_id)
    assert app["status"] in ("offered", "declined", "referred")
    assert app["decision"]["policy_version"].startswith("sme-2026.11+")
    assert app["decision"]["model_version"].startswith("sme-scorecard-")

    path = f"/v1/applications/{app['application_id']}/decision-record"
    assert risk_api.get(path, who="partner").status_code == 403  # officers and admins only
    record = risk_api.get(path, who="officer")
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["decided_on"] == START.isoformat()
    assert set(body["model_versions"]) == {"champion", "challenger"}
    facts = body["facts"]
    assert facts["months_of_history"] > 0 and 0 < facts["pd"] < 1
    assert body["trace"], "every rule evaluated is traced"

    replay = risk_api.get(f"{path}/replay", who="officer")
    assert replay.status_code == 200, replay.text
    assert replay.json()["same"] is True
    assert replay.json()["replayed"] == replay.json()["stored"] == app["decision"]

    with risk_api.platform.read() as session:
        stored = stored_payloads(session, app["application_id"])
    # every payload received is kept, with the consent that allowed it (a provider that holds
    # nothing on the business returns none)
    assert stored and {s.scope for s in stored} <= set(SOURCES)
    for s in stored:
        assert s.consent_id and s.as_of == START and s.status == "accepted"


def _register(api, body: dict) -> str:
    """Register `body` as a new applicant with consent to every scope; its applicant id."""
    r = api.post("/v1/applicants", body)
    assert r.status_code == 201, r.text
    applicant_id = r.json()["applicant_id"]
    r = api.post(f"/v1/applicants/{applicant_id}/consents",
                 {"purpose": "credit_assessment", "scopes": list(EVERY_SCOPE)})
    assert r.status_code == 201, r.text
    return applicant_id


def _data_and_decision(api, applicant_id: str) -> tuple[dict, dict]:
    app = _submit(api, applicant_id)
    with api.platform.read() as session:
        stored = stored_payloads(session, app["application_id"])
    return {s.scope: s.payload for s in stored}, app


def test_one_business_registered_twice_gets_the_same_data_and_decision(risk_api) -> None:
    """Providers know a business by its credit code, not by the lender's applicant id: the same
    business registered twice is one business to them (not graded A once, declined the next)."""
    first = _with_history(risk_api)
    with risk_api.platform.read() as session:
        _, business = load_applicant(session, SYSTEM, first)
    second = _register(risk_api, business.to_dict())
    assert second != first
    data_1, app_1 = _data_and_decision(risk_api, first)
    data_2, app_2 = _data_and_decision(risk_api, second)
    assert data_1 and data_1 == data_2
    assert all(payload["business_id"] == business.uscc for payload in data_1.values())
    assert app_1["status"] == app_2["status"]
    assert app_1["decision"] == app_2["decision"]

    other, _, other_body = risk_api.onboard(scopes=EVERY_SCOPE)  # another business: other data
    world = next(iter(risk_api.platform.connectors.values())).world
    assert other_body["uscc"] != business.uscc
    assert world_business(world, other_body["uscc"]) != world_business(world, business.uscc)
    data_3, _ = _data_and_decision(risk_api, other)
    assert data_3 != data_1


def test_without_consent_no_business_data_is_queried(risk_api) -> None:
    applicant_id, _, _ = risk_api.onboard(scopes=("identity", "bank_account"))
    app = _submit(risk_api, applicant_id)
    assert app["status"] in ("declined", "referred")  # no data, no automated approval
    with risk_api.platform.read() as session:
        assert stored_payloads(session, app["application_id"]) == []
        used = session.execute(select(ConsentLogRow.scope).where(
            ConsentLogRow.applicant_id == applicant_id,
            ConsentLogRow.action == "used")).scalars().all()
    assert set(used) == {"identity", "bank_account"}  # KYC and the account binding only
    record = risk_api.get(f"/v1/applications/{app['application_id']}/decision-record",
                          who="officer").json()
    assert record["facts"]["months_of_history"] == 0
    assert record["facts"]["revenue_avg_3m_fen"] is None


def _order(as_of: date, **changes) -> dict:
    order = {"ordered_on": as_of.replace(day=1).isoformat(), "channel": "pos",
             "amount_fen": 12_000, "customer_hash": "c" * 16, "refunded": False}
    return {k: v for k, v in {**order, **changes}.items() if v is not ...}


class _Garbled(WorldProvider):
    """A sales provider whose payload breaks the schema in the way `bad` says."""

    bad: dict = {}

    def fetch(self, business_id: str, as_of: date) -> dict:
        records = [_order(as_of, **self.bad(as_of))]
        return {"business_id": business_id, "as_of": as_of.isoformat(), "records": records}


BAD_ORDERS = {
    "negative amount": lambda on: {"amount_fen": -1},
    "missing field": lambda on: {"customer_hash": ...},
    "wrong type": lambda on: {"amount_fen": "12000"},
    "future date": lambda on: {"ordered_on": (on + timedelta(days=3)).isoformat()},
}


@pytest.mark.parametrize("problem", sorted(BAD_ORDERS))
def test_a_malformed_payload_is_kept_and_refers_the_application(risk_api, problem) -> None:
    world = next(iter(risk_api.platform.connectors.values())).world
    garbled = type("Garbled", (_Garbled,), {"bad": staticmethod(BAD_ORDERS[problem])})
    risk_api.platform.connectors = ConnectorSet(
        garbled(world, s) if s is DataScope.SALES else WorldProvider(world, s) for s in SOURCES)
    applicant_id, _, _ = risk_api.onboard(scopes=EVERY_SCOPE)
    app = _submit(risk_api, applicant_id)
    with risk_api.platform.read() as session:
        stored = {s.scope: s for s in stored_payloads(session, app["application_id"])}
    sales = stored[DataScope.SALES]
    assert sales.status == "rejected" and "sales" in sales.error
    if app["status"] != "declined":  # a knock-out on other data may decline first
        assert app["status"] == "referred"
        assert "DATA_INCOMPLETE" in [r["code"] for r in app["decision"]["reasons"]]


def test_a_blacklisted_owner_is_declined(db_url, sme_registry, tmp_path) -> None:
    import random

    from puhui.decision.blacklist import Blacklist
    from puhui.parties.synthetic import small_business
    from puhui.services import access, applicants, applications
    from puhui.services.clock import ManualClock, at_business_date
    from puhui.services.platform import Platform
    from puhui.services.risk import risk_parts

    business = small_business(random.Random(4), START)
    (tmp_path / "policies").mkdir()
    Blacklist.of("bl-2026-03-01", [("resident_id", business.owner.resident_id)]).save(
        tmp_path / "policies" / "blacklist.json")
    parts = risk_parts(START, models_root=sme_registry, policies_root=tmp_path / "policies",
                       world_businesses=2_000)
    platform = Platform.open(db_url, clock=ManualClock(at_business_date(START)),
                             **parts.as_platform())
    try:
        with platform.unit() as session:
            who = applicants.register_applicant(platform, session, access.SYSTEM, business)
            applicants.grant_consent(platform, session, access.SYSTEM, who["applicant_id"],
                                     "credit_assessment", list(EVERY_SCOPE))
            row = applications.apply(platform, session, access.SYSTEM, who["applicant_id"],
                                     "SME-EI-12", 10_000_000)
        assert row.status == "declined"
        assert "BLACKLISTED" in row.decision
    finally:
        platform.close()


def test_the_book_is_monitored_from_its_decision_records(risk_api, sme_registry) -> None:
    from typer.testing import CliRunner

    from puhui.cli import app
    from puhui.risk import sme
    from puhui.risk.errors import RiskDataError
    from puhui.risk.model_registry import ModelRegistry
    from puhui.services.monitoring import book_loans, monitor_book

    registry = ModelRegistry(sme_registry)
    reference = registry.load(registry.latest(sme.STABILITY_NAME).version)
    with pytest.raises(RiskDataError, match="no automated decisions"):
        monitor_book(risk_api.platform, reference, START)
    paid = 0
    for _ in range(6):
        applicant_id, account_id, _ = risk_api.onboard(scopes=EVERY_SCOPE)
        decided = _submit(risk_api, applicant_id)
        if decided["status"] != "offered":
            continue
        contract = risk_api.post(f"/v1/applications/{decided['application_id']}/accept",
                                 {"account_id": account_id}).json()
        risk_api.post(f"/v1/contracts/{contract['contract_id']}/sign",
                      {"content_hash": contract["content_hash"]})
        r = risk_api.post(f"/v1/contracts/{contract['contract_id']}/disbursements",
                          {"mode": "bound_account"})
        assert r.status_code == 201, r.text
        paid += 1
    later = START + timedelta(days=45)  # a cohort shows the months it has been on the book
    report = monitor_book(risk_api.platform, reference, later, days=60,
                          reference_metrics={"auc": 0.8, "ks": 0.5})
    assert {r.subject for r in report.score_psi} == {"pd", "pd_challenger"}
    assert len(report.feature_psi) == len(reference.columns) - 2
    # six applications are far too few for PSI to mean anything: reported, never alerted on
    assert report.sample == 6 and report.psi_note == "insufficient sample (n=6 < 100)"
    assert [a for a in report.alerts if a.metric == "psi"] == []
    if paid:  # nothing has had twelve months to perform: no AUC yet
        assert report.matured.matured == 0 and report.matured.auc is None
        assert report.matured.loans == paid
    loans = book_loans(risk_api.platform, later)
    assert len(loans) == paid and all(loan.defaulted_on is None for loan in loans)
    if paid:
        assert report.vintages["loans"].sum() >= paid
    if risk_api.platform.engine.dialect.name == "sqlite":
        url = risk_api.platform.engine.url.render_as_string(hide_password=False)
        result = CliRunner().invoke(app, ["risk", "monitor", "book", "--db", url, "--models",
                                          sme_registry, "--as-of", START.isoformat()])
        assert result.exit_code == 0, result.output
        assert "book:" in result.output
        assert "insufficient sample (n=" in result.output and "< 100)" in result.output
        result = CliRunner().invoke(app, ["risk", "monitor", "book", "--db", url, "--models",
                                          sme_registry, "--as-of", "2020-01-01"])
        assert result.exit_code == 2 and "no automated decisions" in result.output
        for report in ("monitor", "fairness"):  # a malformed day is refused before any work
            result = CliRunner().invoke(app, ["risk", report, "book", "--db", url,
                                              "--as-of", "2025-13-01"])
            assert result.exit_code == 2, result.output
            assert "--as-of must be YYYY-MM-DD" in result.output


def test_fairness_of_the_book_groups_owners_by_their_resident_id(risk_api) -> None:
    from stdnum.cn import ric

    from puhui.risk.errors import RiskDataError
    from puhui.services.fairness import book_fairness, owner_groups

    body = "11010119850307123"  # Beijing, born 1985-03-07, 17th digit 3: a man
    groups = owner_groups(body + ric.calc_check_digit(body), date(2026, 3, 6))
    assert groups == {"sex": "male", "age": 40, "province": "北京市"}
    body = "31010119900101124"  # Shanghai, 17th digit 4: a woman
    assert owner_groups(body + ric.calc_check_digit(body), date(2026, 3, 6))["sex"] == "female"
    body = "31011519900101124"  # Pudong's code is younger than this owner: province by prefix
    assert owner_groups(body + ric.calc_check_digit(body), date(2026, 3, 6))["province"] == \
        "region 31"

    with pytest.raises(RiskDataError, match="no automated decisions"):
        book_fairness(risk_api.platform, START)
    outcomes = []
    for _ in range(4):
        applicant_id, _, _ = risk_api.onboard(scopes=EVERY_SCOPE)
        outcomes.append(_submit(risk_api, applicant_id)["status"] == "offered")
    report = book_fairness(risk_api.platform, START, days=30)
    assert [a.attribute for a in report.attributes] == ["sex", "age_band", "province"]
    sexes = report.to_dict()["attributes"][0]
    assert sum(g["applicants"] for g in sexes["groups"]) == 4
    assert sum(g["approved"] for g in sexes["groups"]) == sum(outcomes)
    assert "reject inference" in report.notes[0]


def test_an_application_whose_bureau_is_down_is_referred_naming_it(risk_api) -> None:
    from puhui.risk.data.resilience import SourcePolicy, SourceSettings
    from puhui.services.sources import HttpConnector

    from fake_sources import FakeSources, status, timed

    applicant_id = _with_history(risk_api)
    world = next(iter(risk_api.platform.connectors.values())).world
    policy = SourcePolicy(timeout=0.5, retries=1, backoff=0.01, backoff_max=0.01)
    with FakeSources() as server:
        server.script("bureau", status(503))
        risk_api.platform.connectors = ConnectorSet(
            (HttpConnector(s, server.url) if s is DataScope.BUREAU else WorldProvider(world, s)
             for s in SOURCES), SourceSettings(policy, deadline=2))
        app, seconds = timed(lambda: _submit(risk_api, applicant_id))
    assert server.requests["bureau"] == 2  # tried again once, then reported
    assert seconds < 5
    record = risk_api.get(f"/v1/applications/{app['application_id']}/decision-record",
                          who="officer").json()
    detail = record["facts"]["data_error_detail"]
    assert f"bureau: failed: bureau source at {server.url}: answered HTTP 503" in detail
    assert record["facts"]["bureau_open_loans"] is None
    assert app["status"] in ("referred", "declined")  # never offered on incomplete data
    if app["status"] == "referred":  # (a knock-out on other data may decline first)
        messages = [r["message"] for r in app["decision"]["reasons"]
                    if r["code"] == "DATA_INCOMPLETE"]
        assert any(m.startswith("the application's data needs review: connector: bureau: "
                                "failed: bureau source at") for m in messages), messages
