"""The FastAPI application: routers, problem details, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI

from puhui.api import problems
from puhui.api.routes import applications, caps, loans, operations, parties
from puhui.services.platform import Platform

DESCRIPTION = """
Embed small-business credit in a POS, ERP or e-commerce platform.

* **Authentication**: every call carries `Authorization: Bearer <API key>`. A key has one role
  (borrower, partner, credit_officer, admin) and scopes; a partner key sees only the applicants
  it registered.
* **Idempotency**: send an `Idempotency-Key` header on every POST. A retry with the same key
  and body returns the first answer (`Idempotent-Replayed: true`); the same key with another
  body is refused with 422. Repayments require it.
* **Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `type`.
* **Money** is integer fen; rates are decimal strings. Lists page with `limit` and `cursor`.

Flow: register applicant → record consent → bind bank account → create application with
`submit: true` → offer (schedule and IRR-annualised cost) → accept → sign contract (its hash
is attested on the ledger's hash chain) → disburse (bound account or entrusted payment) →
repayments and auto-debit.
"""


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(title="Puhui open banking API", version="1.0.0", description=DESCRIPTION,
                  docs_url="/docs", openapi_url="/openapi.json")
    app.state.platform = platform
    problems.install(app)
    for module in (parties, applications, loans, operations, caps):
        app.include_router(module.router)

    @app.get("/health", tags=["operations"], summary="Liveness and database reachability")
    def health() -> dict:
        with platform.read() as session:
            session.execute(__import__("sqlalchemy").text("SELECT 1"))
        return {"status": "ok"}

    return app
