"""PIPL consent records: validity window, revocation and the most specific refusal."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origination_samples import T0, aware
from puhui.errors import (
    ConsentError, ConsentExpired, ConsentMissing, ConsentRevoked, InvalidApplication,
)
from puhui.parties.consent import Consent, DataScope, Purpose, grant, require_consent

CREDIT = Purpose.CREDIT_ASSESSMENT
DAY = timedelta(days=1)


def consent(cid: str = "c1", party: str = "p1", scopes=(DataScope.TAX, DataScope.BUREAU),
            purpose=CREDIT, at=T0, days: int = 30) -> Consent:
    return grant(cid, party, purpose, scopes, at, timedelta(days=days))


def test_grant_defaults_to_a_year_over_the_api():
    c = grant("c1", "p1", "credit_assessment", ["tax"], T0)
    assert c.purpose is CREDIT and c.scopes == frozenset({DataScope.TAX})
    assert c.expires_at == T0 + timedelta(days=365)
    assert (c.channel, c.text_version, c.revoked_at) == ("api", "v1", None)


def test_status_over_the_validity_window():
    c = consent(days=30)
    assert c.status(T0 - timedelta(seconds=1)) == "not_yet_valid"
    assert c.status(T0) == "active"
    assert c.status(T0 + 30 * DAY - timedelta(microseconds=1)) == "active"
    assert c.status(T0 + 30 * DAY) == "expired"
    revoked = c.revoke(T0 + 10 * DAY)
    assert revoked.status(T0 + 10 * DAY - timedelta(seconds=1)) == "active"
    assert revoked.status(T0 + 10 * DAY) == "revoked"
    assert revoked.status(T0 + 40 * DAY) == "revoked"


def test_covers_needs_scope_purpose_and_an_active_window():
    c = consent()
    assert c.covers(DataScope.TAX, CREDIT, T0 + DAY)
    assert c.covers("bureau", "credit_assessment", T0 + DAY)
    assert not c.covers(DataScope.SALES, CREDIT, T0 + DAY)
    assert not c.covers(DataScope.TAX, Purpose.POST_LOAN_MONITORING, T0 + DAY)
    assert not c.covers(DataScope.TAX, CREDIT, T0 + 31 * DAY)
    assert not c.revoke(T0 + DAY).covers(DataScope.TAX, CREDIT, T0 + 2 * DAY)


def test_revoke_makes_a_copy_and_only_once():
    c = consent()
    r = c.revoke(T0 + DAY)
    assert c.revoked_at is None and r.revoked_at == T0 + DAY
    with pytest.raises(ConsentRevoked, match="already revoked"):
        r.revoke(T0 + 2 * DAY)
    with pytest.raises(InvalidApplication, match="before it is granted"):
        c.revoke(T0 - DAY)


@pytest.mark.parametrize("changes, message", [
    ({"scopes": frozenset()}, "at least one"),
    ({"scopes": "tax"}, "collection"),
    ({"scopes": ["tax", "dna"]}, "unknown data scope"),
    ({"purpose": "marketing"}, "unknown purpose"),
    ({"expires_at": T0}, "expire after"),
    ({"granted_at": datetime(2026, 5, 1)}, "timezone-aware"),
    ({"revoked_at": datetime(2026, 5, 2)}, "timezone-aware"),
    ({"party_id": " "}, "party_id"),
    ({"consent_id": 7}, "consent_id"),
])
def test_consent_refuses_bad_records(changes, message):
    values = dict(consent_id="c1", party_id="p1", purpose=CREDIT, scopes=frozenset({"tax"}),
                  granted_at=T0, expires_at=T0 + DAY)
    values.update(changes)
    with pytest.raises(InvalidApplication, match=message):
        Consent(**values)


def test_grant_refuses_a_non_positive_validity():
    with pytest.raises(InvalidApplication):
        grant("c1", "p1", CREDIT, ["tax"], T0, timedelta(0))


def test_timestamps_are_kept_in_utc():
    beijing = timezone(timedelta(hours=8))
    c = grant("c1", "p1", CREDIT, ["tax"], datetime(2026, 5, 1, 16, tzinfo=beijing))
    assert c.granted_at == T0 and c.granted_at.tzinfo == timezone.utc


def test_require_consent_returns_the_covering_consent():
    c = consent()
    assert require_consent([c], "p1", DataScope.TAX, CREDIT, T0 + DAY) is c


def test_require_consent_prefers_the_longest_lasting_whatever_the_order():
    short, long_, tie = consent("c1", days=10), consent("c2", days=90), consent("c0", days=90)
    for order in ([short, long_, tie], [tie, long_, short], [long_, short, tie]):
        assert require_consent(order, "p1", DataScope.TAX, CREDIT, T0 + DAY).consent_id == "c0"


@pytest.mark.parametrize("consents", [
    [],
    [consent(party="p2")],
    [consent(scopes=[DataScope.SALES])],
    [consent(purpose=Purpose.LOAN_SERVICING)],
    [consent(at=T0 + 5 * DAY)],  # not yet valid
])
def test_require_consent_missing(consents):
    with pytest.raises(ConsentMissing) as info:
        require_consent(consents, "p1", DataScope.TAX, CREDIT, T0 + DAY)
    assert "party p1" in str(info.value) and "tax" in str(info.value)
    assert "credit_assessment" in str(info.value)


def test_require_consent_expired():
    with pytest.raises(ConsentExpired, match="party p1 for tax data and purpose credit_assessment"):
        require_consent([consent(days=10)], "p1", DataScope.TAX, CREDIT, T0 + 20 * DAY)


def test_revoked_is_more_specific_than_expired_which_beats_missing():
    expired = consent("old", days=10)
    revoked = consent("new", at=T0 + 15 * DAY).revoke(T0 + 16 * DAY)
    at = T0 + 20 * DAY
    with pytest.raises(ConsentRevoked, match="new"):
        require_consent([expired, revoked, consent(party="p2")], "p1", DataScope.TAX, CREDIT, at)
    with pytest.raises(ConsentExpired, match="old"):
        require_consent([expired, consent(scopes=["sales"])], "p1", DataScope.TAX, CREDIT, at)
    # a consent revoked and since expired would not have covered anyway: it is reported expired
    gone = consent("gone", days=10).revoke(T0 + DAY)
    with pytest.raises(ConsentExpired):
        require_consent([gone], "p1", DataScope.TAX, CREDIT, at)
    # any covering consent wins over revoked and expired ones
    fresh = consent("fresh", at=T0 + 19 * DAY)
    assert require_consent([expired, revoked, fresh], "p1", DataScope.TAX, CREDIT, at) is fresh
    assert issubclass(ConsentRevoked, ConsentError) and issubclass(ConsentMissing, ConsentError)


def test_require_consent_needs_an_aware_time():
    with pytest.raises(InvalidApplication):
        require_consent([consent()], "p1", DataScope.TAX, CREDIT, datetime(2026, 5, 2))


consents = st.builds(
    lambda cid, party, purpose, scopes, at, valid, channel, revoke_after:
        (lambda c: c if revoke_after is None else c.revoke(at + revoke_after))(
            grant(cid, party, purpose, scopes, at, valid, channel)),
    st.text("abc123-", min_size=1, max_size=8), st.sampled_from(["p1", "p2"]),
    st.sampled_from(list(Purpose)), st.sets(st.sampled_from(list(DataScope)), min_size=1), aware,
    st.timedeltas(timedelta(seconds=1), timedelta(days=800)), st.sampled_from(["api", "app"]),
    st.none() | st.timedeltas(timedelta(0), timedelta(days=900)))


@settings(deadline=None)
@given(consents)
def test_consent_round_trips_through_json(c):
    assert Consent.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@settings(deadline=None)
@given(st.lists(consents, max_size=6, unique_by=lambda c: c.consent_id),
       st.sampled_from(["p1", "p2"]), st.sampled_from(list(DataScope)),
       st.sampled_from(list(Purpose)), aware)
def test_require_consent_agrees_with_covers(cs, party, scope, purpose, at):
    covering = [c for c in cs if c.party_id == party and c.covers(scope, purpose, at)]
    try:
        found = require_consent(cs, party, scope, purpose, at)
    except ConsentError:
        assert not covering
    else:
        assert found in covering
        assert found.expires_at == max(c.expires_at for c in covering)
        assert require_consent(list(reversed(cs)), party, scope, purpose, at) == found
