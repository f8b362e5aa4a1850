"""Facts from an application: applicant facts, features with their data problems, scores, and
the blacklist."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from decision_samples import FEATURES, ON, person, request, shop
from puhui.decision.blacklist import Blacklist, digest
from puhui.decision.errors import InvalidBlacklist
from puhui.decision.facts import (APPLICANT_FACTS, FACT_KINDS, FEATURE_FACTS, SCORE_FACTS,
                                  build_facts, request_features)
from puhui.decision.scoring import ModelScores
from puhui.decision.outcome import kyc_failures
from puhui.parties.applicant import ApplicantKind


def facts_of(req, scores=None, blacklist=None):
    features, problems = request_features(req.data)
    return build_facts(req, features, scores, blacklist=blacklist, problems=problems)


def test_the_catalogue_names_every_feature_the_connectors_produce():
    assert len(FEATURE_FACTS) == 18 and set(FEATURES) == set(FEATURE_FACTS)
    assert FEATURE_FACTS["bureau_total_balance_fen"] == "money"
    assert FEATURE_FACTS["revenue_cv_6m"] == "number"
    assert set(FACT_KINDS) == set(APPLICANT_FACTS) | set(FEATURE_FACTS) | set(SCORE_FACTS)


def test_applicant_facts_features_and_scores_are_plain_json():
    app = shop(guarantors=(person("赵六", seq="777", mobile="18612345678"),),
               established_on=date(2024, 5, 31))
    scores = ModelScores(np.float64(0.031), 612.5, None, {"champion": "v1"})
    facts = facts_of(request(app), scores)
    assert facts["owner_age"] == 41  # born 1985-03-07, decided 2026-11-15
    assert facts["business_months"] == 29  # 2024-05-31 -> 2026-10-31 (month ends clamp)
    assert facts["declared_monthly_revenue_fen"] == 100_000_00
    assert facts["requested_amount_fen"] == 100_000_00 and facts["has_guarantor"] is True
    assert (facts["kyc_failures"], facts["kyc_failure_detail"]) == (0, None)
    assert (facts["blacklisted"], facts["blacklist_version"]) == (False, None)
    assert facts["applicant_kind"] == "individual_business" and facts["industry"] == "catering"
    assert (facts["data_errors"], facts["data_error_detail"]) == (0, None)
    assert facts["pd"] == 0.031 and type(facts["pd"]) is float and facts["score"] == 612.5
    assert facts["pd_challenger"] is None
    assert all(facts[name] == value for name, value in FEATURES.items())
    assert json.loads(json.dumps(facts, allow_nan=False)) == facts


def test_unknown_establishment_and_missing_scores_are_missing_facts():
    facts = facts_of(request(shop(established_on=None)))
    assert facts["business_months"] is None
    assert (facts["pd"], facts["score"], facts["pd_challenger"]) == (None, None, None)


def test_kyc_failures_count_what_the_shared_kyc_rule_finds():
    req = request(checks=[])  # nothing checked: owner's resident ID and mobile, the USCC
    facts = facts_of(req)
    failures = kyc_failures(req)
    assert facts["kyc_failures"] == len(failures) == 2
    assert facts["kyc_failure_detail"].split("\n") == [r.message for r in failures]


@pytest.mark.parametrize("data, problem", [
    ({}, "no features were supplied"),
    ({"features": [1, 2]}, "features should be a mapping, got list"),
    ({"features": FEATURES, "data_errors": ["bureau: timeout"]}, "connector: bureau: timeout"),
    ({"features": FEATURES, "data_errors": "oops"}, "data_errors should be a list, got str"),
    ({"features": {**FEATURES, "revenue_cv_6m": float("nan")}},
     "feature revenue_cv_6m is malformed: nan"),
    ({"features": {**FEATURES, "bureau_open_loans": "three"}},
     "feature bureau_open_loans is malformed: three"),
    ({"features": {**FEATURES, "bureau_open_loans": True}},
     "feature bureau_open_loans is malformed: True"),
    ({"features": {**FEATURES, "pd": 0.0}},
     "feature pd clashes with a fact of the application; ignored"),
    ({"features": {**FEATURES, 7: 1.0}}, "feature name 7 is not text"),
])
def test_data_problems_are_counted_and_described_never_raised(data, problem):
    facts = facts_of(request(data=data))
    assert facts["data_errors"] >= 1 and problem in facts["data_error_detail"].split("\n")
    assert json.loads(json.dumps(facts, allow_nan=False)) == facts


def test_missing_features_are_none_and_extra_features_are_kept():
    features, problems = request_features({"features": {"months_of_history": None,
                                                        "shop_floor_m2": np.int64(35)}})
    assert problems == [] and features["months_of_history"] is None
    assert features["shop_floor_m2"] == 35 and type(features["shop_floor_m2"]) is int
    assert all(features[name] is None for name in FEATURE_FACTS if name != "months_of_history")
    features, _ = request_features({"features": {"revenue_cv_6m": float("inf")}})
    assert features["revenue_cv_6m"] is None  # stored as missing, counted as a problem


# -- the blacklist -----------------------------------------------------------------------------

def test_digests_are_of_the_normalised_number_and_its_kind():
    owner = person()
    assert digest("resident_id", owner.resident_id.lower()) == digest("resident_id",
                                                                      owner.resident_id)
    assert digest("mobile", "+86 138 0013 8000") == digest("mobile", "13800138000")
    assert digest("mobile", "13800138000") != digest("resident_id", owner.resident_id)
    with pytest.raises(InvalidBlacklist, match="unknown blacklist kind"):
        digest("passport", "E123")


def test_membership_covers_owner_business_and_guarantors(tmp_path):
    guarantor = person("赵六", seq="777", mobile="18612345678")
    app = shop(kind=ApplicantKind.ENTERPRISE, uscc="91110000600037341L", guarantors=(guarantor,))
    listed = Blacklist.of("bl-2026-11", [("mobile", "186 1234 5678"),
                                         ("uscc", "91110000600037341L")], "test list")
    assert listed.matches(app) == ["business uscc", "guarantor 1 mobile"]
    assert Blacklist.of("bl-empty", []).matches(app) == []
    assert not listed.contains("mobile", "not a number")
    path = tmp_path / "blacklist.json"
    listed.save(path)
    assert Blacklist.load(path) == listed and "91110000600037341L" not in path.read_text()
    facts = facts_of(request(app), blacklist=Blacklist.load(path))
    assert facts["blacklisted"] is True and facts["blacklist_version"] == "bl-2026-11"


@pytest.mark.parametrize("doc, message", [
    ([], "a blacklist is a JSON object"),
    ({"version": "v1"}, "needs an `entries` list"),
    ({"version": "v1", "entries": [], "extra": 1}, "unknown blacklist fields"),
    ({"version": "v 1", "entries": []}, "blacklist version must match"),
    ({"version": "v1", "entries": [{"kind": "mobile"}]}, "entries[0] must be"),
    ({"version": "v1", "entries": [{"kind": "mobile", "sha256": "ABC"}]}, "64 lower-case hex"),
    ({"version": "v1", "entries": [], "description": 3}, "description must be text"),
])
def test_malformed_blacklists_are_refused(doc, message):
    with pytest.raises(InvalidBlacklist) as caught:
        Blacklist.from_dict(doc)
    assert message in str(caught.value)


def test_unreadable_blacklist_files_and_invalid_numbers(tmp_path):
    with pytest.raises(InvalidBlacklist, match="no blacklist file"):
        Blacklist.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(InvalidBlacklist, match="is not JSON"):
        Blacklist.load(tmp_path / "bad.json")
    with pytest.raises(InvalidBlacklist, match="cannot blacklist an invalid number"):
        Blacklist.of("v1", [("resident_id", "123")])


def test_decision_date_before_birth_leaves_age_missing():
    req = request(shop(owner=person(birth="20300101")), checks=[])
    assert facts_of(req)["owner_age"] is None and req.on == ON
