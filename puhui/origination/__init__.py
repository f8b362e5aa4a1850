"""Online loan origination, pure domain: identities, parties, consent, workflow, decision, offer.

Nothing here touches a database or the network, so every rule can be tested and replayed alone;
the store and the API call these functions and persist what they return.
"""
