"""Business data for credit assessment: what a small business leaves behind, validated.

    records      strict record schemas, one per data source (`DataScope`)
    payload      `parse_payload(scope, payload) -> SourceData`: a connector payload, validated
    connectors   the `Connector` protocol, `ConnectorSet` (every source asked at once),
                 synthetic connectors on the world
    resilience   how a source is asked: `SourcePolicy` (timeout, retries with backoff),
                 `CircuitBreaker`, `SourceSettings` (PUHUI_SOURCE_*, the deadline)
    world        `SyntheticWorld`: thousands of correlated small businesses with a known latent
                 default propensity, their raw payloads, monthly panel and outcomes

Features computed from these records live in `puhui.risk.panel` and `puhui.risk.features`; the
HTTP connector and the loop network sources are asked on in `puhui.services.sources`.
"""
