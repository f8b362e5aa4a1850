"""The FastAPI application: routers, problem details, OpenAPI at /docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from puhui.api import problems
from puhui.api.calls import KEY_DESCRIPTION, KEY_PATTERN, MAX_KEY, SECURITY_SCHEMES
from puhui.api.responses import Health
from puhui.api.routes import (
    applications, caps, collections, lines, loans, monitoring, notifications, operations, parties,
    servicing, warnings,
)
from puhui.api.routes.common import operation
from puhui.services import stages
from puhui.services.platform import Platform

DESCRIPTION = """
Embed small-business credit in a POS, ERP or e-commerce platform.

* **Authentication**: every call carries `Authorization: Bearer <API key>` (or `X-API-Key`). A
  key has one role (borrower, partner, credit_officer, admin) and scopes; a partner key sees
  only the applicants it registered.
* **Idempotency**: send an `Idempotency-Key` header on every POST. A retry with the same key
  and body returns the first answer (`Idempotent-Replayed: true`), also while the first is still
  in flight; the same key with another body is refused with 422. Repayments require it.
* **Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `type`.
* **Money** is integer fen; rates are decimal strings. Lists page with `limit` and `cursor`.

Flow: register applicant → record consent → bind bank account → create application with
`submit: true` → offer (schedule and IRR-annualised cost) → accept → sign contract (its hash
is attested on the ledger's hash chain) → disburse (bound account or entrusted payment) →
repayments and auto-debit.
"""

TAGS = [
    {"name": "applicants", "description": "Applicants, their consents, identity checks and "
                                          "bound bank accounts"},
    {"name": "applications", "description": "Applications, decisions, offers and contracts"},
    {"name": "loans", "description": "Disbursements, loans and repayments"},
    {"name": "lines", "description": "Credit lines: grant, draw-downs as loans, staff changes"},
    {"name": "servicing", "description": "Staff servicing with maker-checker: reschedule, "
                                         "extend, waive, refund, reverse, write off, recover, "
                                         "freeze"},
    {"name": "notifications", "description": "Reminders and notices to borrowers, the delivery "
                                             "log, contact addresses"},
    {"name": "monitoring", "description": "Fresh data after the payout (post-loan monitoring) "
                                          "and the credit lines' re-evaluations"},
    {"name": "collections", "description": "Collection cases, queues, contact attempts, "
                                           "promises to pay, restructuring, write-off advice"},
    {"name": "operations", "description": "Products, rate caps, end of day, ledger checks, "
                                          "API keys, health"},
    {"name": "risk", "description": "Early-warning watch list and portfolio risk (staff)"},
]
PROBLEM_MEDIA_TYPE = problems.MEDIA_TYPE


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(title="Puhui open banking API", version="1.0.0", description=DESCRIPTION,
                  docs_url="/docs", openapi_url="/openapi.json", openapi_tags=TAGS)
    app.state.platform = platform
    problems.install(app)
    for module in (parties, applications, loans, lines, servicing, collections, monitoring,
                   operations, caps, warnings, notifications):
        app.include_router(module.router)
    if stages.enabled():
        @app.middleware("http")
        async def answer_stage_timings(request, call_next):  # type: ignore[no-untyped-def]
            with stages.timing() as timings:
                response = await call_next(request)
            if timings:
                response.headers["Server-Timing"] = stages.server_timing(timings)
            return response

    @app.get("/health", tags=["operations"], openapi_extra={"security": []}, **operation(
        "health", Health, public=True,
        summary="Liveness and database reachability (no key needed)"))
    def health() -> dict:
        platform.ping()
        return {"status": "ok"}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with what it cannot say by itself: problems are
    `application/problem+json`, and every operation but /health needs a key."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes, tags=app.openapi_tags)
    for item in spec["paths"].values():
        for op in item.values():
            for code, response in op.get("responses", {}).items():
                content = response.get("content", {})
                if code[:1] in "45" and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    _share_idempotency_key(spec)
    spec["components"]["securitySchemes"] = SECURITY_SCHEMES
    spec["security"] = [{"bearer": []}, {"apiKey": []}]
    app.openapi_schema = spec
    return spec


def _share_idempotency_key(spec: dict[str, Any]) -> None:
    """Declare the Idempotency-Key header once, in components/parameters (optional, and
    required for the POSTs that move money), and refer to it from each POST."""
    schema = {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": KEY_PATTERN,
              "examples": ["5f0c6c1e-8a4e-4d3b-9d7e-2a1c9b7e4f10"]}
    shared = spec.setdefault("components", {}).setdefault("parameters", {})
    for name, required in (("IdempotencyKey", False), ("IdempotencyKeyRequired", True)):
        shared[name] = {"name": "Idempotency-Key", "in": "header", "required": required,
                        "schema": schema,
                        "description": KEY_DESCRIPTION + (" Required here." if required else "")}
    for item in spec["paths"].values():
        for op in item.values():
            params = op.get("parameters", [])
            for i, param in enumerate(params):
                if param.get("name") == "Idempotency-Key":
                    name = "IdempotencyKeyRequired" if param.get("required") else "IdempotencyKey"
                    params[i] = {"$ref": f"#/components/parameters/{name}"}
