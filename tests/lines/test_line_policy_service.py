"""Re-evaluating credit lines on fresh data, end to end on SQLite and PostgreSQL: data pushed
under consent, the shipped rules applied through the lines' change function (an in-memory
recorder here), decisions recorded once and replayable, the pull and the book."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from puhui.errors import ConsentMissing, ConsentRevoked, InvalidAmount
from puhui.lines.signals import Due
from puhui.risk.errors import InvalidRecord
from puhui.services import applicants as svc
from puhui.services import reevaluation as rv
from puhui.services.access import Perm, Principal, Role
from puhui.services.clock import at_business_date
from puhui.store.line_models import LineDecisionRow
from puhui.store.platform_models import ConsentLogRow
from puhui.store.risk_models import SourcePayloadRow

from line_policy_samples import TODAY
from line_service_samples import (ADMIN, USCC, FakeLine, LineRecorder, applicant, electricity,
                                  monitor, sales)


def _count(p, table) -> int:
    with p.read() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def _push(p, applicant_id, scope, payload, mon, actor=ADMIN):
    with p.unit() as session:
        return rv.push_data(p, session, actor, applicant_id, scope, payload, mon)


def test_an_electricity_jump_pushed_raises_the_limit_the_same_week(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    mon = monitor(lines)
    out = _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]), mon)
    assert out["stored"] and out["records"] == 3 and out["scope"] == "utility"
    [done] = out["reevaluated"]
    assert done["fired"] == ["ELECTRICITY_JUMP"] and done["limit"] == 12_000_000
    assert [c["limit"] for c in lines.calls] == [12_000_000]
    call = lines.calls[0]
    assert call["key"] == f"line-decision:{done['decision_id']}"
    assert call["decision_id"] == done["decision_id"] and call["actor"] == "system"
    assert "electricity use rose" in call["reason"]
    assert lines.lines["LN1"].limit == 12_000_000
    with monitored.read() as session:
        replayed = rv.replay_line_decision(session, ADMIN, done["decision_id"], mon)
        record = rv.stored_line_decision(session, ADMIN, done["decision_id"])
    assert replayed["matches"] and replayed["replayed"]["limit"] == 12_000_000
    assert record.trigger == "push:utility" and record.line.limit == 10_000_000
    assert record.data == {"utility": out["payload_sha256"]}
    assert record.facts["electricity_growth_mom"] == pytest.approx(0.40594, abs=1e-5)


def test_the_same_push_again_stores_and_changes_nothing(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    mon = monitor(lines)
    payload = electricity([1000, 1010, 1420])
    _push(monitored, applicant_id, "utility", payload, mon)
    again = _push(monitored, applicant_id, "utility", payload, mon)
    assert not again["stored"] and again["reevaluated"] == []
    assert _count(monitored, SourcePayloadRow) == 1 and _count(monitored, LineDecisionRow) == 1
    assert len(lines.calls) == 1


def test_running_a_reevaluation_twice_records_once_and_changes_the_line_once(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    mon = monitor(lines)
    _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1020]), mon)  # quiet
    with monitored.unit() as session:
        [again] = rv.reevaluate_applicant(monitored, session, applicant_id, mon, trigger="pull")
    assert not again.new  # the same inputs: the recorded decision, not a new one
    assert _count(monitored, LineDecisionRow) == 1
    _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]), mon)
    assert len(lines.calls) == 1
    with monitored.unit() as session:  # the job run again on the same data
        [again] = rv.reevaluate_applicant(monitored, session, applicant_id, mon, trigger="pull")
    assert not again.decision.changes and len(lines.calls) == 1
    assert [t.result for t in again.decision.trace if t.code == "ELECTRICITY_JUMP"] == \
        ["engaged"]


def test_a_reevaluation_rolled_back_leaves_nothing_and_runs_again_whole(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    mon = monitor(lines)
    _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]), None)
    with pytest.raises(RuntimeError):
        with monitored.unit() as session:  # killed after deciding, before committing
            rv.reevaluate_applicant(monitored, session, applicant_id, mon, trigger="pull")
            raise RuntimeError("killed")
    assert _count(monitored, LineDecisionRow) == 0
    lines.lines["LN1"] = FakeLine("LN1", applicant_id)  # the change went with the rollback
    with monitored.unit() as session:
        [done] = rv.reevaluate_applicant(monitored, session, applicant_id, mon, trigger="pull")
    assert done.new and done.decision.limit == 12_000_000
    assert _count(monitored, LineDecisionRow) == 1
    assert len({c["key"] for c in lines.calls}) == 2  # one key per recorded decision


def test_a_later_month_in_the_band_keeps_the_rule_engaged_then_releases_it(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    mon = monitor(lines)
    _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]), mon)
    monitored.clock.set(at_business_date(date(2027, 1, 8)))
    # December up 15% on November: inside the band, no second rise
    out = _push(monitored, applicant_id, "utility",
                electricity([1633], as_of=date(2027, 1, 8)), mon)
    [done] = out["reevaluated"]
    assert done["fired"] == [] and not done["changes"]
    monitored.clock.set(at_business_date(date(2027, 2, 9)))
    out = _push(monitored, applicant_id, "utility",
                electricity([1650], as_of=date(2027, 2, 9)), mon)
    assert out["reevaluated"][0]["released"] == ["ELECTRICITY_JUMP"]
    assert [c["limit"] for c in lines.calls] == [12_000_000]


def test_a_sales_collapse_freezes_the_line_and_six_months_on_time_cut_the_price(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id, changed_on=TODAY - timedelta(days=2)))
    dues = [Due(date(2026, m, 20), date(2026, m, 19)) for m in range(5, 12)]
    mon = monitor(lines, repayments_of=lambda session, line: dues)
    out = _push(monitored, applicant_id, "sales", sales([1_000_000] * 10 + [300_000]), mon)
    [done] = out["reevaluated"]
    assert done["fired"] == ["SALES_COLLAPSE"] and done["freeze"] is True  # urgent: no wait
    assert lines.lines["LN1"].status == "frozen"
    # on a frozen line the on-time discount is held
    assert "ON_TIME_SIX_MONTHS" not in done["fired"]

    other = applicant(monitored)
    lines.add(FakeLine("LN2", other))
    out = _push(monitored, other, "sales", sales([1_000_000] * 11), mon)
    [done] = out["reevaluated"]
    assert done["fired"] == ["ON_TIME_SIX_MONTHS"] and done["annual_rate"] == "0.115"


def test_without_a_monitoring_consent_nothing_is_stored(monitored) -> None:
    applicant_id = applicant(monitored, purposes=("credit_assessment",))
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    with pytest.raises(ConsentMissing, match="post_loan_monitoring"):
        _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]), monitor(lines))
    assert _count(monitored, SourcePayloadRow) == 0 and _count(monitored, LineDecisionRow) == 0
    assert lines.calls == []
    with monitored.read() as session:
        refused = session.execute(select(ConsentLogRow.action, ConsentLogRow.purpose)
                                  .where(ConsentLogRow.action == "refused")).all()
    assert [tuple(r) for r in refused] == [("refused", "post_loan_monitoring")]


def test_a_revoked_consent_refuses_the_push(monitored) -> None:
    applicant_id = applicant(monitored)
    with monitored.unit() as session:
        consent_id = svc.consents(session, applicant_id)[0].consent_id
        svc.revoke_consent(monitored, session, ADMIN, applicant_id, consent_id)
    with pytest.raises(ConsentRevoked):
        _push(monitored, applicant_id, "utility", electricity([1000]), None)
    assert _count(monitored, SourcePayloadRow) == 0


def test_a_scope_outside_the_consent_is_refused(monitored) -> None:
    applicant_id = applicant(monitored, scopes=("utility",))
    with pytest.raises(ConsentMissing, match="sales"):
        _push(monitored, applicant_id, "sales", sales([1_000_000]), None)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["records"][0].update(usage=-1), "usage"),
    (lambda d: d["records"][0].pop("billed_on"), "billed_on"),
    (lambda d: d.update(business_id="91110000000000000X"), "business_id"),
    (lambda d: d.update(as_of="2027-01-01"), "as_of"),
    (lambda d: d["records"][0].update(period_month="2026/10"), "period_month"),
])
def test_malformed_data_is_refused_naming_the_field_and_nothing_is_stored(
        monitored, mutate, field) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    payload = electricity([1000, 1010, 1420])
    mutate(payload)
    with pytest.raises(InvalidRecord) as info:
        _push(monitored, applicant_id, "utility", payload, monitor(lines))
    assert info.value.field == field or field in str(info.value)
    assert _count(monitored, SourcePayloadRow) == 0 and lines.calls == []


def test_an_unknown_scope_is_refused(monitored) -> None:
    applicant_id = applicant(monitored)
    with pytest.raises(InvalidRecord, match="scope"):
        _push(monitored, applicant_id, "identity", {}, None)


def test_a_partner_pushes_only_for_its_own_applicants(monitored) -> None:
    applicant_id = applicant(monitored)
    stranger = Principal("K2", Role.PARTNER, frozenset({Perm.APPLY, Perm.READ}), "P-OTHER")
    from puhui.services.errors import NotFound
    with pytest.raises(NotFound):
        _push(monitored, applicant_id, "utility", electricity([1000]), None, actor=stranger)


def test_a_refused_change_keeps_the_data_and_the_record(monitored) -> None:
    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    lines.refuse = InvalidAmount("the line is being closed")
    out = _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]),
                monitor(lines))
    assert out["reevaluated"][0]["refused"].startswith("InvalidAmount")
    assert _count(monitored, SourcePayloadRow) == 1 and _count(monitored, LineDecisionRow) == 1


@pytest.mark.parametrize("as_sent", [False, True])
def test_the_pull_asks_the_sources_for_monitored_lines_only(monitored, as_sent) -> None:
    """`as_sent`: the source answers as a network source (and the demo's world) does, with the
    bytes it sent and their parse (`Received`), which are stored byte for byte."""
    import orjson

    from puhui.risk.data.connectors import ConnectorSet, Received
    from line_policy_samples import TODAY as today

    class Fixed:
        def __init__(self, scope, payload):
            self.scope, self.payload = scope, payload

        def fetch(self, business_id, as_of):
            assert business_id == USCC and as_of == today
            if as_sent:  # with spaces: not the platform's canonical form
                return Received(orjson.dumps(self.payload, option=orjson.OPT_INDENT_2),
                                self.payload)
            return self.payload

    watched = applicant(monitored)
    unwatched = applicant(monitored, purposes=("credit_assessment",))
    lines = LineRecorder()
    lines.add(FakeLine("LN1", watched))
    lines.add(FakeLine("LN2", unwatched))
    from puhui.parties.consent import DataScope
    connectors = ConnectorSet([Fixed(DataScope.UTILITY, electricity([1000, 1010, 1420]))])
    summary = rv.refresh_lines(monitored, monitor(lines), connectors)
    assert summary["businesses"] == 1 and summary["payloads_stored"] == 1
    assert summary["lines_changed"] == 1 and summary["failures"] == {}
    assert [c["line_id"] for c in lines.calls] == ["LN1"]
    again = rv.refresh_lines(monitored, monitor(lines), connectors)  # nothing new: no decision
    assert again["payloads_stored"] == 0 and len(lines.calls) == 1
    assert _count(monitored, LineDecisionRow) == 1
    if as_sent:  # kept as the bytes the source sent (their SHA-256), not re-written
        import hashlib

        sent = connectors[DataScope.UTILITY].fetch(USCC, today).body
        with monitored.read() as session:
            _, hashes, _ = rv.applicant_data(session, watched, today)
        assert hashes["utility"] == hashlib.sha256(sent).hexdigest()


def test_the_monitor_is_wired_to_the_platform_s_credit_lines_and_notifications(
        monitored) -> None:
    from puhui.services import lines, notifications

    mon = rv.LineMonitor.for_platform(monitored)
    assert mon.apply_line_change is lines.change_line and mon.lines_of is lines.lines_of
    assert mon.notify is notifications.notify and mon.policy.version == "lines-2026.12"
    assert mon.scorer is None  # this platform decides without the models: nothing is scored


def test_scores_are_facts_of_the_record_and_a_failing_model_scores_nothing(monitored) -> None:
    from puhui.decision.scoring import ModelScores
    from puhui.errors import PuhuiError

    class Scorer:
        def __init__(self, fail: bool = False) -> None:
            self.fail, self.seen = fail, []

        def score(self, features):
            self.seen.append(dict(features))
            if self.fail:
                raise PuhuiError("the model cannot score")
            return ModelScores(0.031, 612.0, 0.029, {"champion": "sc-1", "challenger": "gbm-1"})

    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    scorer = Scorer()
    out = _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420]),
                monitor(lines, scorer=scorer))
    [seen] = scorer.seen
    assert seen["electricity_growth_mom"] == pytest.approx(0.40594, abs=1e-5)
    assert "months_of_history" in seen  # the credit features, computed point in time
    with monitored.read() as session:
        record = rv.stored_line_decision(session, ADMIN, out["reevaluated"][0]["decision_id"])
    assert (record.facts["pd"], record.facts["score"]) == (0.031, 612.0)
    assert record.model_versions == {"champion": "sc-1", "challenger": "gbm-1"}
    out = _push(monitored, applicant_id, "utility", electricity([1000, 1010, 1420, 1430]),
                monitor(lines, scorer=Scorer(fail=True)))
    with monitored.read() as session:
        record = rv.stored_line_decision(session, ADMIN, out["reevaluated"][0]["decision_id"])
    assert record.facts["pd"] is None and record.model_versions == {}


def test_a_served_platform_watches_its_lines(tmp_path) -> None:
    """`puhui serve` and every API worker open the platform through `open_platform`, which gives
    it the line monitor: the line refresh job and pushed data re-evaluate lines there."""
    from puhui.services.risk import open_platform

    served = open_platform(f"sqlite:///{tmp_path / 'served.sqlite'}", "default")
    try:
        assert isinstance(served.line_monitor, rv.LineMonitor)
    finally:
        served.close()
