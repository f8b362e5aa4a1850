"""Business data for credit assessment: what a small business leaves behind, validated.

    records      strict record schemas, one per data source (`DataScope`)
    payload      `parse_payload(scope, payload) -> SourceData`: a connector payload, validated
    connectors   the `Connector` protocol, `ConnectorSet`, synthetic connectors on the world
    world        `SyntheticWorld`: thousands of correlated small businesses with a known latent
                 default propensity, their raw payloads, monthly panel and outcomes

Features computed from these records live in `puhui.risk.panel` and `puhui.risk.features`.
"""
