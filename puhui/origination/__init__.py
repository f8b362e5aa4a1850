"""Online loan origination, pure domain: the application workflow, the transparent default
policy (`default_policy`) and the offer and contract (`offer`).  Who applies (identity, the
applicant, consent) is `puhui.parties`; the decision types are `puhui.decision.outcome`.

Nothing here touches a database or the network, so every rule can be tested and replayed alone;
the store and the API call these functions and persist what they return.
"""
