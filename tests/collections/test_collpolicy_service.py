"""The platform collects under its registry's active collections policy: registered and
activated, a new version decides the contact hours, the caps and the promise limit, and the
cases and the trail name the version they were collected under."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from puhui.collections.errors import ContactRefused, InvalidCollectionsInput
from puhui.collections.policy import shipped_collections_policy
from puhui.collections.registry import CollectionsPolicyRegistry
from puhui.decision.errors import PolicyTampered
from puhui.services import collections as svc
from puhui.services.access import SYSTEM
from puhui.services.platform import Platform

from collections_samples import FIRST_DUE, OFFICER, book_loan, set_day

SHIPPED = shipped_collections_policy()
NEW = "collections-2027.01"


def _narrow(version: str = NEW) -> dict[str, Any]:
    """The shipped document with contact hours 09:00-20:00, two contacts a day, promises up
    to 10 days."""
    doc = json.loads(SHIPPED.canonical_json())
    doc["version"] = version
    doc["contact"].update(earliest="09:00", latest="20:00", max_per_day=2)
    doc["promises"]["max_days"] = 10
    return doc


def _run(p: Platform, day: date) -> dict[str, Any]:
    set_day(p, day, 7, 0)
    with p.unit() as s:
        return svc.run_daily(p, s, SYSTEM, day)


def _case(p: Platform, loan_id: str) -> dict[str, Any]:
    with p.read() as s:
        [case] = [c for c in svc.cases_of_loan(p, s, OFFICER, loan_id) if c["status"] == "open"]
        return case


def _attempt(p: Platform, case_id: str, key: str) -> dict[str, Any]:
    with p.unit() as s:
        return svc.record_attempt(p, s, OFFICER, case_id, channel="phone_call",
                                  party="borrower", outcome="no_answer", key=key)


def _trail(p: Platform, case_id: str) -> list[dict[str, Any]]:
    with p.read() as s:
        return svc.audit_trail(p, s, OFFICER, case_id)


def test_an_activated_version_decides_the_contact_hours_of_the_daily_work(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    registry = CollectionsPolicyRegistry(tmp_path / "collections-policies")
    p.collections_policies = registry
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=2)
    _run(p, day)  # nothing active yet: the shipped policy
    case_id = _case(p, "LN-A")["case_id"]
    assert _case(p, "LN-A")["strategy"] == SHIPPED.version
    set_day(p, day, 8, 30)
    _attempt(p, case_id, "call-0830")  # 08:30 is within the shipped 08:00-21:00

    record = registry.register(_narrow())
    registry.activate(record.version)
    later = day + timedelta(days=1)
    _run(p, later)
    assert _case(p, "LN-A")["strategy"] == NEW
    changed = [e for e in _trail(p, case_id) if e["action"] == "policy_changed"]
    assert [(e["detail"]["from_policy"], e["detail"]["to_policy"]) for e in changed] == \
        [(SHIPPED.version, NEW)]
    set_day(p, later, 8, 30)
    with pytest.raises(ContactRefused, match="outside the contact hours 09:00-20:00") as refused:
        _attempt(p, case_id, "call-0830-new")
    assert refused.value.rule == "contact_hours"
    refusal = _trail(p, case_id)[-1]
    assert refusal["outcome"] == "refused" and refusal["detail"]["policy"] == NEW
    # the new daily cap: two contacts, the third refused
    for n, hh in enumerate((9, 10)):
        set_day(p, later, hh)
        assert _attempt(p, case_id, f"call-{n}")["outcome"] == "no_answer"
    set_day(p, later, 11)
    with pytest.raises(ContactRefused, match="at most 2 contacts a day"):
        _attempt(p, case_id, "call-2")
    done = [e for e in _trail(p, case_id)
            if e["action"] == "contact_attempt" and e["outcome"] == "done"]
    assert [e["detail"]["policy"] for e in done] == [SHIPPED.version, NEW, NEW]
    # promises: at most 10 days ahead now
    with p.unit() as s:
        with pytest.raises(InvalidCollectionsInput, match="10 days ahead"):
            svc.record_promise(p, s, OFFICER, case_id, amount=100, due_on=later + timedelta(11),
                               key="promise-11")
    with p.unit() as s:
        made = svc.record_promise(p, s, OFFICER, case_id, amount=100,
                                  due_on=later + timedelta(10), key="promise-10")
    assert made["status"] == "pending"


def test_without_a_registry_or_an_active_version_the_shipped_policy_applies(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    assert svc.settings_for(p) == svc.DEFAULT_SETTINGS
    p.collections_policies = CollectionsPolicyRegistry(tmp_path / "empty")
    assert svc.settings_for(p) == svc.DEFAULT_SETTINGS
    assert svc.DEFAULT_SETTINGS.version == SHIPPED.version
    registry = CollectionsPolicyRegistry(tmp_path / "registry")
    registry.activate(registry.register(_narrow()).version)
    p.collections_policies = registry
    settings = svc.settings_for(p)
    assert settings.version == NEW and settings.promise_max_days == 10
    assert settings.contact.max_per_day == 2


def test_a_tampered_active_version_stops_collections_rather_than_guessing(
        platform: Platform, tmp_path: Path) -> None:
    p = platform
    registry = CollectionsPolicyRegistry(tmp_path / "registry")
    registry.activate(registry.register(_narrow()).version)
    stored = tmp_path / "registry" / NEW / "policy.json"
    stored.write_text(stored.read_text().replace('"09:00"', '"08:00"'), encoding="utf-8")
    p.collections_policies = registry
    book_loan(p, "LN-A")
    with pytest.raises(PolicyTampered):
        _run(p, FIRST_DUE + timedelta(days=2))


def test_the_platform_opened_for_the_cli_and_api_reads_the_configured_registry(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from puhui.services.risk import open_platform

    root = tmp_path / "configured"
    registry = CollectionsPolicyRegistry(root)
    registry.activate(registry.register(_narrow()).version)
    monkeypatch.setenv("PUHUI_COLLECTIONS_POLICIES", str(root))
    p = open_platform(db_url, "default")
    try:
        assert svc.settings_for(p).version == NEW
    finally:
        p.close()
