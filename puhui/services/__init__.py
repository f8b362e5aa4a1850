"""Transaction scripts of the platform: each public function is one business operation.

Why a layer of its own: the domain (`puhui.parties`, `puhui.origination`, `puhui.loans`,
`puhui.ledger`) is pure and knows nothing of storage; the API and the CLI know nothing of the
domain's rules.  A service
function loads what it needs inside the caller's transaction, asks the domain, and writes the
result, so an HTTP request, a CLI command and a batch job all change the book the same way.
"""
