"""The decision engine: credit policies as versioned data, applied to facts, replayable.

    policy       the policy document (pydantic, strict): knock-outs, grades, limits, pricing,
                 referrals; canonical JSON, sha256 and identity; `default_policy()`
    conditions   rule conditions (leaf / all / any), one meaning for a row and for a frame
    values       how a fact's value is read by kind; what counts as missing
    facts        the facts of one application: applicant, features, model scores
    blacklist    SHA-256 digests of normalised identity numbers, versioned
    engine       `evaluate(policy, facts)` -> PolicyResult with reasons and a trace
    result       `PolicyResult` and `TraceEntry`
    vectorised   `evaluate_frame(policy, frame)`: the same rules over a Polars frame
    scoring      the `Scorer` protocol and `ModelScorer` (champion scorecard, challenger GBM)
    record       `DecisionRecord`: everything needed to replay a decision
    outcome      the types a decision is made of: DecisionRequest, Decision, Outcome, Reason,
                 the Decider protocol; kyc_failures and lower_cap, shared by every decider
    policy_decider   `PolicyDecider` (a `Decider`) and `replay`
    policy_registry  `PolicyRegistry`: content-addressed policy versions, activation, tamper check
    errors       the DecisionError subtree:

    PuhuiError
    └── DecisionError
        ├── InvalidPolicy             a policy document that fails validation (ValueError)
        ├── InvalidFacts              facts not a mapping or frame, a bad product (ValueError)
        ├── InvalidBlacklist          a blacklist file that cannot be read (ValueError)
        ├── InvalidScorer             a model unfit to be champion or challenger (ValueError)
        ├── InvalidDecisionRecord     a stored decision record that cannot be replayed (ValueError)
        └── PolicyRegistryError
            ├── UnknownPolicyVersion  no policy with that version in the registry (LookupError)
            ├── PolicyVersionConflict the version is registered with different content
            ├── NoActivePolicy        nothing has been activated yet
            └── PolicyTampered        stored content no longer matches its recorded sha256

Submodules are imported on use, so `puhui policy` starts without the modelling stack.
"""
