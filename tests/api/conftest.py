"""An API over a fresh database per backend, a hand-moved clock, and keys for every role."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from puhui.api import create_app
from puhui.parties.synthetic import account_for, small_business
from puhui.services import access
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.platform import Platform

from api_samples import START


@dataclass
class Api:
    """A test client with the platform behind it and one key per role."""

    client: TestClient
    platform: Platform
    clock: ManualClock
    gateway: SandboxGateway
    keys: dict[str, str]
    rng: random.Random
    _n: int = 0

    def headers(self, who: str = "partner", key: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.keys[who]}"}
        if key is not None:
            out["Idempotency-Key"] = key
        return out

    def post(self, path: str, json: Any = None, who: str = "partner", key: str | None = "auto",
             **kw: Any):
        if key == "auto":
            self._n += 1
            key = f"k{self._n}"
        return self.client.post(path, json=json, headers=self.headers(who, key), **kw)

    def get(self, path: str, who: str = "partner", **kw: Any):
        return self.client.get(path, headers=self.headers(who), **kw)

    def onboard(self, monthly_revenue: int = 8_000_000, scopes=("identity", "bank_account"),
                who: str = "partner") -> tuple[str, str, dict]:
        """Register an applicant, record consent and bind an account: (applicant, account, body)."""
        applicant = small_business(self.rng, START, monthly_revenue=monthly_revenue)
        body = applicant.to_dict()
        r = self.post("/v1/applicants", body, who)
        assert r.status_code == 201, r.text
        applicant_id = r.json()["applicant_id"]
        if scopes:
            r = self.post(f"/v1/applicants/{applicant_id}/consents",
                          {"purpose": "credit_assessment", "scopes": list(scopes)}, who)
            assert r.status_code == 201, r.text
        account_id = ""
        if "bank_account" in scopes:
            acct = account_for(self.rng, applicant)
            r = self.post(f"/v1/applicants/{applicant_id}/bank-accounts",
                          {"card_number": acct.card_number, "holder_name": acct.holder_name}, who)
            assert r.status_code == 201, r.text
            account_id = r.json()["account_id"]
        return applicant_id, account_id, body

    def offered(self, amount: int = 10_000_000, product: str = "SME-EI-12", **kw: Any) -> dict:
        applicant_id, account_id, _ = self.onboard(**kw)
        r = self.post("/v1/applications", {"applicant_id": applicant_id, "product_code": product,
                                           "amount": amount, "submit": True})
        assert r.status_code == 201 and r.json()["status"] == "offered", r.text
        return {**r.json(), "account_id": account_id}

    def signed(self, **kw: Any) -> dict:
        application = self.offered(**kw)
        r = self.post(f"/v1/applications/{application['application_id']}/accept",
                      {"account_id": application["account_id"]})
        assert r.status_code == 201, r.text
        contract = r.json()
        r = self.post(f"/v1/contracts/{contract['contract_id']}/sign",
                      {"content_hash": contract["content_hash"]})
        assert r.status_code == 200, r.text
        return {**application, "contract": contract}

    def disbursed(self, **kw: Any) -> dict:
        application = self.signed(**kw)
        r = self.post(f"/v1/contracts/{application['contract']['contract_id']}/disbursements",
                      {"mode": "bound_account"})
        assert r.status_code == 201, r.text
        return {**application, "disbursement": r.json()}


def _serve(platform: Platform, clock: ManualClock, gateway: SandboxGateway) -> Iterator[Api]:
    """An `Api` on `platform` with a key per role (and a read-only partner key), closed after."""
    with platform.unit() as session:
        keys = {
            "admin": access.issue_key(session, "ops", "admin").token,
            "officer": access.issue_key(session, "officer", "credit_officer").token,
            "partner": access.issue_key(session, "pos partner", "partner", "P-POS").token,
            "other": access.issue_key(session, "erp partner", "partner", "P-ERP").token,
            "readonly": access.issue_key(session, "reporting", "partner", "P-POS",
                                         ["read"]).token,
        }
    client = TestClient(create_app(platform), raise_server_exceptions=False)
    try:
        yield Api(client, platform, clock, gateway, keys, random.Random(11))
    finally:
        client.close()
        platform.close()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    clock = ManualClock(at_business_date(START))
    gateway = SandboxGateway()
    yield from _serve(Platform.open(db_url, clock=clock, gateway=gateway), clock, gateway)


@pytest.fixture
def risk_api(db_url: str, sme_registry: str, tmp_path) -> Iterator[Api]:
    """An API whose platform decides with the risk engine: synthetic data providers, the small
    models of `sme_registry` and the shipped policy."""
    from puhui.services.risk import risk_parts

    clock = ManualClock(at_business_date(START))
    gateway = SandboxGateway()
    parts = risk_parts(START, models_root=sme_registry, policies_root=tmp_path / "policies",
                       world_businesses=3_000)
    yield from _serve(Platform.open(db_url, clock=clock, gateway=gateway, **parts.as_platform()),
                      clock, gateway)


def _spawned_workers(pid: int) -> list[int]:
    """The worker processes `pid` started (multiprocessing's spawned children, not its resource
    tracker), from Linux's /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # the process ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return sorted(found)


@pytest.fixture
def spawned_workers() -> Callable[[int], list[int]]:
    return _spawned_workers
