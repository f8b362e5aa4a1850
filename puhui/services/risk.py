"""The risk engine inside the application workflow: data under consent, features, the decision
record, and the parts a platform is assembled from.

Why here: submitting an application is one transaction (`applications._submit`).  Inside it the
platform asks the data providers the applicant consented to (each query checked and logged by
`services.data.collect`, each payload kept), computes the point-in-time features as of the
business date, lets the decider decide, and keeps the decider's `DecisionRecord`, so every
automated decision can be explained and replayed from what it actually used.  Scopes the
applicant did not consent to are not queried at all; their absence is a data problem the policy
sees (it refers the application, `DATA_INCOMPLETE`), not an error.
"""

from __future__ import annotations

import fcntl

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from sqlalchemy.orm import Session

from puhui.errors import ConsentError
from puhui.parties.consent import DataScope, Purpose, require_consent
from puhui.services.access import Perm, Principal
from puhui.services.applicants import consents
from puhui.services.errors import NotFound
from puhui.services.platform import Platform
from puhui.store import risk_repo

#: How `services.data.collect` reports a provider that holds nothing on the business.
UNAVAILABLE = "unavailable:"
#: Where the platform's collections policy registry is (`puhui collections-policy --registry`).
ENV_COLLECTIONS_POLICIES = "PUHUI_COLLECTIONS_POLICIES"
DEFAULT_COLLECTIONS_ROOT = "var/collections-policies"


def consented_scopes(session: Session, applicant_id: str, scopes: Any,
                     now: datetime) -> tuple[list[DataScope], dict[DataScope, str]]:
    """The scopes the applicant's consents cover for credit assessment now, and for each other
    scope why not (nothing is queried, so nothing is logged as used)."""
    given = consents(session, applicant_id)
    allowed, refused = [], {}
    for scope in scopes:
        try:
            require_consent(given, applicant_id, scope, Purpose.CREDIT_ASSESSMENT, now)
        except ConsentError as exc:
            refused[scope] = f"not queried: {exc}"
        else:
            allowed.append(scope)
    return allowed, refused


def assess(p: Platform, session: Session, applicant_id: str, application_id: str,
           on: date) -> dict[str, Any]:
    """`DecisionRequest.data` for an application: features as of `on` from every consented
    source, and the data problems met (no consent, provider down, payload refused)."""
    if p.connectors is None:
        return {}
    from puhui.risk.features import FEATURE_SET_VERSION, features_for
    from puhui.services.data import collect

    scopes, absent = consented_scopes(session, applicant_id, list(p.connectors), p.clock.now())
    collected = collect(p, session, applicant_id, application_id, scopes, on, p.connectors)
    # A provider with nothing on the business (`SourceUnavailable`) and a scope without consent
    # leave their features missing, which the policy's rules deal with; a payload that failed
    # validation and a source that could not be asked (slow, failing, its circuit open) or
    # answered garbage are data problems naming the source, and refer the application.
    problems = {s: why for s, why in collected.errors.items() if not why.startswith(UNAVAILABLE)}
    absent.update((s, why) for s, why in collected.errors.items() if s not in problems)
    return {"features": features_for(collected.data, on), "feature_set": FEATURE_SET_VERSION,
            "data_errors": [f"{scope.value}: {why}" for scope, why in problems.items()],
            "data_missing": {scope.value: why for scope, why in absent.items()}}


def record_values(application_id: str, record: Any, now: datetime) -> dict[str, Any]:
    """The `decision_records` row keeping a decider's `DecisionRecord` (canonical JSON and its
    SHA-256); written with the application, as one of its pending rows."""
    text = record.to_json()
    return {"application_id": application_id, "decided_on": record.decided_on,
            "recorded_at": now, "outcome": record.decision.outcome.value,
            "policy_version": record.policy_version, "policy_sha256": record.policy_sha256,
            "model_version": record.decision.model_version, "record": text,
            "record_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def stored_record(session: Session, actor: Principal, application_id: str) -> Any:
    """The application's decision record, checked against its SHA-256 (officers and admins)."""
    from puhui.decision.record import DecisionRecord
    from puhui.risk.errors import RiskDataError

    actor.require(Perm.REVIEW)
    row = risk_repo.latest_record(session, application_id)
    if row is None:
        raise NotFound(f"application {application_id!r} has no automated decision record")
    if hashlib.sha256(row.record.encode("utf-8")).hexdigest() != row.record_sha256:
        raise RiskDataError(f"the decision record of {application_id} does not match its sha256")
    return DecisionRecord.from_json(row.record)


def replay_decision(p: Platform, session: Session, actor: Principal,
                    application_id: str) -> dict[str, Any]:
    """Re-derive the stored decision from its record under the recorded policy version."""
    from puhui.decision.policy_decider import replay

    if p.policies is None:
        raise NotFound("this platform keeps no policy registry to replay decisions from")
    record = stored_record(session, actor, application_id)
    replayed = replay(record, p.policies)
    return {"application_id": application_id, "policy_version": record.policy_version,
            "policy_sha256": record.policy_sha256, "model_versions": record.model_versions,
            "stored": record.decision.to_dict(), "replayed": replayed.to_dict(),
            "same": replayed == record.decision}


# -- assembling a platform's risk parts -------------------------------------------------------
@dataclass(frozen=True)
class RiskParts:
    """What `Platform.open(url, **parts.as_platform())` needs to decide with the risk engine."""

    decider: Any
    connectors: Any
    policies: Any
    models: Mapping[str, str]
    #: The synthetic world the connectors (and the change feeds) answer from.
    world: Any = None

    def as_platform(self) -> dict[str, Any]:
        return {"decider": self.decider, "connectors": self.connectors, "policies": self.policies}


def ensure_models(registry: Any, *, businesses: int = 6_000, seed: int = 7,
                  progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """The latest small-business model versions in `registry`, training and registering them
    first (one fit each, out-of-time checked, 3-fold CV) when there are none."""
    from puhui.risk import sme
    from puhui.risk.errors import UnknownModelVersion

    names = (sme.CHAMPION_NAME, sme.CHALLENGER_NAME, sme.STABILITY_NAME)
    try:
        return {name: registry.latest(name).version for name in names}
    except UnknownModelVersion:
        pass
    # several server processes may start on an empty registry at once: one trains, the others
    # wait for it and read what it registered (training twice would register the same
    # versions twice, and the second registration is refused)
    Path(registry.root).mkdir(parents=True, exist_ok=True)
    with open(Path(registry.root) / ".training.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return {name: registry.latest(name).version for name in names}
        except UnknownModelVersion:
            pass
        if progress is not None:
            progress(f"training the small-business models on {businesses:,} synthetic "
                     "businesses")
        training = sme.train(sme.training_world(businesses, seed), folds=3, repeats=1, seed=0)
        records = sme.register(training, registry, min_auc=0.0,
                               world_params={"businesses": businesses, "seed": seed})
        return {name: record.version for name, record in records.items()}


def risk_parts(today: date, *, models_root: str | Path = "var/models",
               policies_root: str | Path = "var/policies", world_businesses: int = 20_000,
               world_seed: int = 11, rate_cap: Any = None,
               blacklist: str | Path | None = None,
               progress: Callable[[str], None] | None = None) -> RiskParts:
    """The risk engine as a platform uses it: the latest registered models (trained on first
    use), the active policy of the policy registry (the shipped default registered and
    activated when none is), the blacklist file when one is given (default
    `<policies_root>/blacklist.json` if it exists), and a synthetic world as the data providers
    (except the sources `PUHUI_SOURCE_<SCOPE>_URL` points at an HTTP API), asked under the
    `PUHUI_SOURCE_*` settings (`SourceSettingsError` if one is bad)."""
    from puhui.decision.blacklist import Blacklist
    from puhui.decision.policy_decider import PolicyDecider
    from puhui.decision.errors import NoActivePolicy
    from puhui.decision.policy import default_policy
    from puhui.decision.policy_registry import PolicyRegistry
    from puhui.decision.scoring import ModelScorer
    from puhui.risk import sme
    from puhui.risk.data.resilience import SourceSettings
    from puhui.risk.model_registry import ModelRegistry
    from puhui.services.providers import world_connectors

    sources = SourceSettings.from_env()  # a bad PUHUI_SOURCE_* refuses to start, before training
    models = ModelRegistry(models_root)
    versions = ensure_models(models, progress=progress)
    policies = PolicyRegistry(policies_root)
    try:
        policies.active_version()
    except NoActivePolicy:
        policies.activate(policies.register(default_policy()).version)
    scorer = ModelScorer.from_registry(models, versions[sme.CHAMPION_NAME],
                                       versions[sme.CHALLENGER_NAME])
    listed = Path(blacklist) if blacklist is not None else Path(policies_root) / "blacklist.json"
    names = Blacklist.load(listed) if blacklist is not None or listed.is_file() else None
    decider = PolicyDecider(policies.active(), scorer, blacklist=names, rate_cap=rate_cap)
    world = sme.live_world(world_businesses, world_seed, today)
    return RiskParts(decider, world_connectors(world, sources), policies, versions, world)


def record_json(record: Any) -> dict[str, Any]:
    """A decision record as the API shows it."""
    return json.loads(record.to_json())


DECIDERS = ("risk", "default")


def open_platform(url: str | None, decider: str = "risk", *,
                  models_root: str | Path = "var/models",
                  policies_root: str | Path = "var/policies",
                  progress: Callable[[str], None] | None = None, **parts: Any) -> Platform:
    """The platform on the database at `url`, deciding with the risk engine (`decider="risk"`:
    the registered models, trained on first use, and the active policy) or with the simple
    documented policy (`"default"`).  One place for the CLI and every API worker process."""
    from puhui.services.clock import SystemClock, business_date

    if decider not in DECIDERS:
        raise ValueError(f"the decider must be one of {', '.join(DECIDERS)}, not {decider!r}")
    if decider == "risk":
        today = business_date(parts.get("clock") or SystemClock())
        # no cap of the decider's own: each application carries the platform's cap in force
        built = risk_parts(today, models_root=models_root, policies_root=policies_root,
                           progress=progress)
        parts = {**built.as_platform(), **parts}
    platform = Platform.open(url, **parts)
    from puhui.services.reevaluation import LineMonitor

    if platform.line_monitor is None:  # credit lines follow fresh data (docs/line-policy.md)
        platform.line_monitor = LineMonitor.for_platform(platform)
    if platform.feeds is None and decider == "risk":
        from puhui.services.change_feeds import platform_feeds

        platform.feeds = platform_feeds(platform, built.world)
    if platform.collections_policies is None:  # the active policy (docs/collections.md)
        from puhui.collections.registry import CollectionsPolicyRegistry

        platform.collections_policies = CollectionsPolicyRegistry(
            os.environ.get(ENV_COLLECTIONS_POLICIES) or DEFAULT_COLLECTIONS_ROOT)
    return platform
