"""Automated credit decisions: one at a time in-process, and a million businesses in batch.

Product path timed: the one-at-a-time figure is the decision step of `applications._submit`
with the risk decider (features, models, policy, record), in process, providers answered
beforehand.  The batch figure times `feature_frame`, `ModelScorer.score_frame` and
`evaluate_frame` over many businesses: no product command runs that batch yet (a re-scoring job
would), so it is a kernel figure, not a product one.

Run: .venv/bin/python bench/decisions.py [applicants] [batch_businesses]
Targets: p99 <= 20 ms for one decision (point-in-time features + both models + the policy);
decisions/s and batch throughput are reported.

One decision is what `applications._submit` runs once the providers have answered: each
provider's payload validated (`parse_payload`), features as of the decision date, the champion scorecard (PD,
points, reason codes) and the LightGBM challenger, facts, the shipped policy with its trace, and
the replayable decision record.  The providers' answers are fetched before the clock starts (they are network calls in
production, bounded by their timeouts: docs/risk-data.md); their validation is inside the
figure, and also reported on its own line,
the bytes its payloads take once stored are printed (packed as `services.data.collect` stores
them), and each applicant is decided in `ROUNDS` rounds (every decision recomputes everything).
The models are trained first on a 6,000-business synthetic world (a temporary registry).

The batch run scores distinct businesses in chunks of 100,000 synthetic worlds (different
seeds): monthly panel, `feature_frame`, both models (`ModelScorer.score_frame`) and the policy
(`evaluate_frame`) as a pre-approval run would, requesting the product maximum.  The worlds
have no owners, so owner ages are drawn (25-60) and KYC is taken as passed.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date

import numpy as np
import polars as pl

from _live_data import raw_payloads, validated_payloads

from puhui.decision.policy_decider import PolicyDecider
from puhui.decision.policy import default_policy
from puhui.decision.scoring import ModelScorer
from puhui.decision.vectorised import evaluate_frame
from puhui.decision.outcome import DecisionRequest
from puhui.parties.applicant import verify_applicant
from puhui.parties.synthetic import small_business
from puhui.risk import sme
from puhui.risk.data.payload import parse_payload
from puhui.risk.features import feature_frame, features_for
from puhui.risk.model_registry import ModelRegistry
from puhui.services.platform import DEFAULT_RATE_CAP
from puhui.services.providers import world_connectors
from puhui.services.risk import ensure_models
from puhui.store import payload_codec
from puhui.demo import DEMO_PRODUCTS

TARGET_P99_MS = 20.0
ON = date(2026, 11, 23)
CHUNK = 100_000
ROUNDS = 5


def scorer_in(root: str) -> ModelScorer:
    registry = ModelRegistry(root)
    versions = ensure_models(registry)
    return ModelScorer.from_registry(registry, versions[sme.CHAMPION_NAME],
                                     versions[sme.CHALLENGER_NAME])


def applications(n: int) -> list[tuple]:
    """`n` applicants with their identity checks and their providers' validated data."""
    connectors = world_connectors(sme.live_world(20_000, 11, ON))
    rng, out, parse_s, records, stored, received = random.Random(5), [], 0.0, 0, 0, 0
    for i in range(n):
        applicant = small_business(rng, ON, monthly_revenue=rng.randint(20_000, 400_000) * 100)
        _, seconds, count = validated_payloads(connectors, f"AP{i:07d}", ON)
        parse_s, records = parse_s + seconds, records + count
        raw = raw_payloads(connectors, f"AP{i:07d}", ON)
        for answer in raw.values():  # what `services.data.collect` stores for each answer
            received += len(answer.body)
            stored += len(payload_codec.pack(answer.body, parsed=answer.payload)[1])
        out.append((f"AN{i:07d}", applicant, tuple(verify_applicant(applicant, ON)), raw))
    print(f"  validating the providers' payloads: {parse_s / n * 1000:.1f} ms per application "
          f"({records / n:,.0f} records each; part of the decision figures below)")
    print(f"  stored per application: {stored / n / 1000:,.1f} kB of payloads as packed "
          f"({received / n / 1000:,.1f} kB as received; target <= 50 kB)")
    return out


def one_at_a_time(decider: PolicyDecider, apps: list[tuple]) -> None:
    product = DEMO_PRODUCTS[0]
    for app in apps[:20]:  # warm-up: first calls build caches and query plans
        decide(decider, product, app)
    latencies, outcomes = [], {}
    t_all = time.perf_counter()
    for app in apps * ROUNDS:
        t0 = time.perf_counter()
        decision = decide(decider, product, app)
        latencies.append((time.perf_counter() - t0) * 1000)
        outcomes[decision.outcome.value] = outcomes.get(decision.outcome.value, 0) + 1
    elapsed = time.perf_counter() - t_all
    n = len(latencies)
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(0.99 * (len(latencies) - 1))]
    verdict = "meets" if p99 <= TARGET_P99_MS else "MISSES"
    print(f"  one at a time: {n:,} decisions ({len(apps)} applicants x {ROUNDS}), "
          f"{n / elapsed:,.0f} decisions/s, "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= {TARGET_P99_MS:.0f} ms: "
          f"{verdict}); outcomes {outcomes}")


def decide(decider: PolicyDecider, product, app: tuple):
    application_id, applicant, checks, raw = app
    data = {scope: parse_payload(scope, answer.payload) for scope, answer in raw.items()}
    features = features_for(data, ON)
    request = DecisionRequest(application_id, applicant, 10_000_000, product, checks, ON,
                              {"features": features, "data_errors": []})
    decision, record = decider.evaluate(request)
    record.to_json()  # what the platform stores
    return decision


def batch(scorer: ModelScorer, n: int) -> None:
    policy, product = default_policy(), DEMO_PRODUCTS[0]
    rng = np.random.default_rng(3)
    timings = {"world and panel": 0.0, "features": 0.0, "models": 0.0, "policy": 0.0}
    done, approved = 0, 0
    while done < n:
        size = min(CHUNK, n - done)
        t0 = time.perf_counter()
        world = sme.live_world(size, 100 + done // CHUNK, ON)
        panel = world.panel(ON)
        t1 = time.perf_counter()
        features = feature_frame(panel, ON)
        t2 = time.perf_counter()
        scored = scorer.score_frame(features)
        t3 = time.perf_counter()
        businesses = world.businesses().select("business_id", "established_on",
                                               "declared_monthly_revenue_fen")
        facts = scored.join(businesses, on="business_id").with_columns(
            business_months=((ON.year - pl.col("established_on").dt.year()) * 12
                             + ON.month - pl.col("established_on").dt.month()
                             - (pl.col("established_on").dt.day() > ON.day).cast(pl.Int32)),
            owner_age=pl.Series(rng.integers(25, 61, scored.height)),
            requested_amount_fen=pl.lit(product.max_principal), kyc_failures=pl.lit(0),
            blacklisted=pl.lit(False), has_guarantor=pl.lit(False))
        result = evaluate_frame(policy, facts, product, platform_rate_cap=DEFAULT_RATE_CAP)
        t4 = time.perf_counter()
        for key, span in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            timings[key] += span
        done += features.height
        approved += int((result["outcome"] == "approve").sum())
    total = sum(timings.values())
    print(f"  batch: {done:,} businesses in {total:.1f} s ({done / total:,.0f}/s end to end; "
          f"{approved / done:.1%} pre-approved)")
    for key, span in timings.items():
        print(f"    {key:<16} {span:6.1f} s  {done / span:>12,.0f} businesses/s")


def main(n: int = 300, batch_n: int = 1_000_000) -> None:
    print(f"automated decisions ({os.cpu_count()} cores visible)")
    with tempfile.TemporaryDirectory() as tmp:
        scorer = scorer_in(tmp)
        decider = PolicyDecider(default_policy(), scorer, rate_cap=DEFAULT_RATE_CAP)
        one_at_a_time(decider, applications(n))
        batch(scorer, batch_n)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
