"""Errors as RFC 9457 problem details, one mapping for every error the platform raises on purpose.

Why one table: a partner's integration branches on `type` and `status`, so each class of error
must always come back the same way; anything not in the tree is a bug and answers a bare 500
that leaks nothing.  Faults of the deployment the client cannot fix (database unavailable, a
personal-data key missing, a sealed value that fails its integrity check) are 503s.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from puhui import errors as E
from puhui.collections import errors as C
from puhui.services import errors as P
from puhui.errors import KeyMissing, KeyringError, SealBroken, StorageUnavailable, WriteConflict
from puhui.notify.channels import NotificationSettingsError
from puhui.lines.policy import InvalidLineDecision
from puhui.risk.errors import InvalidRecord

log = logging.getLogger("puhui.api")
MEDIA_TYPE = "application/problem+json"

#: Most specific class first: (error class, status, type slug, title).
ERROR_TABLE: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (P.AuthenticationFailed, 401, "unauthenticated", "Authentication required"),
    (NotificationSettingsError, 503, "notifications-misconfigured",
     "The notification settings of this server are invalid; nothing was changed"),
    (P.AccessDenied, 403, "forbidden", "Not allowed for this API key"),
    (P.NotFound, 404, "not-found", "Not found"),
    (P.IdempotencyKeyReused, 422, "idempotency-key-reused",
     "Idempotency-Key already used for a different request"),
    (P.AlreadyDone, 409, "already-done", "Already done"),
    (P.InvalidRequest, 422, "invalid-request", "Invalid request"),
    (E.ConsentMissing, 409, "consent-missing", "No consent covers this use of personal data"),
    (E.ConsentExpired, 409, "consent-expired", "The consent for this data use has expired"),
    (E.ConsentRevoked, 409, "consent-revoked", "The consent for this data use was revoked"),
    (E.IllegalTransition, 409, "illegal-transition", "Not allowed in the application's state"),
    (E.OfferExpired, 409, "offer-expired", "The offer has expired"),
    (E.LoanClosed, 409, "loan-closed", "The loan is closed"),
    (E.ConcurrentModification, 409, "concurrent-modification", "Changed by another request"),
    (E.IdempotencyConflict, 409, "event-key-conflict",
     "The event key was already used with different content"),
    (E.InvalidEvent, 409, "invalid-state", "Not possible in the loan's current state"),
    (E.RateCapExceeded, 422, "rate-cap-exceeded", "Annualised cost above the rate cap"),
    (E.InvalidRateCap, 422, "invalid-rate-cap", "Invalid rate cap setting or LPR publication"),
    (E.NoRateCapInForce, 409, "no-rate-cap-in-force", "No rate cap is in force on that date"),
    (C.ContactRefused, 409, "contact-refused",
     "Refused by the contact rules (hours, frequency, third parties)"),
    (C.CaseClosed, 409, "case-closed", "The collection case is closed"),
    (C.OfferNotOpen, 409, "offer-not-open", "The restructuring offer is no longer open"),
    (C.RestructuringRefused, 422, "restructuring-refused",
     "The restructuring is not affordable or not allowed"),
    (C.InvalidCollectionsInput, 422, "invalid-collections-input", "Invalid collections request"),
    (E.InvalidIdentity, 422, "invalid-identity", "Identity number failed validation"),
    (E.InvalidApplication, 422, "invalid-application", "Invalid application data"),
    (E.InvalidAmount, 422, "invalid-amount", "Invalid amount"),
    (E.MoneyError, 422, "invalid-money", "Invalid money value"),
    (E.CalendarError, 422, "invalid-rate-or-date", "Invalid rate or date"),
    (E.ProductError, 422, "invalid-product", "Invalid product terms"),
    (E.OriginationError, 422, "invalid-application", "Invalid application data"),
    (E.ServicingError, 409, "servicing-refused", "Refused by loan servicing"),
    (E.IllegalLineTransition, 409, "illegal-line-transition",
     "Not allowed in the credit line's state"),
    (E.LineNotDrawable, 409, "line-not-drawable", "The credit line cannot be drawn now"),
    (E.DrawExceedsAvailable, 409, "draw-exceeds-available",
     "The draw is above the line's available amount"),
    (E.DrawBelowMinimum, 422, "draw-below-minimum", "The draw is below the product's minimum"),
    (E.InvalidLineChange, 422, "invalid-line-change", "Invalid credit line change"),
    (InvalidRecord, 422, "invalid-data", "Invalid data payload (the detail names the field)"),
    (InvalidLineDecision, 409, "line-decision-unreadable",
     "The stored line decision cannot be read back or replayed"),
)


class ProblemException(Exception):
    """A refusal the API layer itself makes (e.g. a malformed cursor): answered as is."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail


def problem(status: int, slug: str | None, title: str, detail: str | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{slug}" if slug else "about:blank",
                            "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_for(exc: BaseException, instance: str | None = None) -> JSONResponse:
    for cls, status, slug, title in ERROR_TABLE:
        if isinstance(exc, cls):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return problem(status, slug, title, str(exc), instance, headers)
    if isinstance(exc, E.PuhuiError):
        return problem(422, "rejected", "Request rejected", str(exc), instance)
    if isinstance(exc, KeyringError):
        return keyring_problem(exc, instance)
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal-error", "Internal error",
                   "the request failed unexpectedly and changed nothing; it is safe to retry",
                   instance)


def keyring_problem(exc: KeyringError, instance: str | None = None) -> JSONResponse:
    """A personal-data key fault as a 503: the client cannot fix it and nothing was changed.

    The answer names no key, key id or personal data; the log names the key id (a missing key)
    or the failed ciphertext (an integrity fault, logged at ERROR with its trace, as it may mean
    the database was altered).  No ``Retry-After``: it lasts until an operator acts."""
    if isinstance(exc, SealBroken):
        log.error("personal data integrity fault on %s: %s", instance, exc, exc_info=exc)
        return problem(503, "personal-data-integrity", "Personal data failed its integrity check",
                       "stored personal data did not authenticate and was not used; nothing was "
                       "changed; the operator has been alerted", instance)
    if isinstance(exc, KeyMissing):
        log.error("personal data unavailable on %s: master key %r is missing from the keyring",
                  instance, exc.key_id)
    else:
        log.error("personal data unavailable on %s: %s", instance, exc)
    return problem(503, "personal-data-unavailable", "Personal data unavailable",
                   "the personal data this request needs cannot be opened with the keys this "
                   "server holds; nothing was changed; retry once the operator has restored "
                   "the key", instance)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem response."""

    @app.exception_handler(E.PuhuiError)
    async def _domain(request: Request, exc: E.PuhuiError) -> JSONResponse:
        return problem_for(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "malformed-json", "Malformed JSON",
                           "the request body is not valid JSON", request.url.path)
        detail = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}{_given(raw)}"
                           for e, raw in zip(errors, exc.errors()))
        return problem(422, "validation-error", "Request validation failed", detail,
                       request.url.path, errors=json.loads(json.dumps(errors, default=str)))

    @app.exception_handler(ProblemException)
    async def _api(request: Request, exc: ProblemException) -> JSONResponse:
        return problem(exc.status, exc.slug, exc.title, exc.detail, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        if exc.status_code == 400:  # the only bare 400 is FastAPI's: a body it could not parse
            return problem(400, "malformed-json", "Malformed JSON", "the request body could not "
                           "be parsed as JSON (e.g. a number of more digits than a JSON parser "
                           "accepts)", request.url.path, headers=headers or None)
        return problem(exc.status_code, None, _reason(exc.status_code),
                       str(exc.detail) if exc.detail else None, request.url.path,
                       headers=headers or None)

    @app.exception_handler(WriteConflict)
    async def _integrity(request: Request, exc: WriteConflict) -> JSONResponse:
        log.warning("integrity error on %s: %s", request.url.path, getattr(exc, "orig", exc))
        return problem(409, "conflict", "Conflicting concurrent request",
                       "another request changed the same record; read it again and retry",
                       request.url.path)

    @app.exception_handler(StorageUnavailable)
    async def _busy(request: Request, exc: StorageUnavailable) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return problem(503, "unavailable", "Database busy or unavailable",
                       "nothing was changed; retry later", request.url.path,
                       headers={"Retry-After": "1"})

    @app.exception_handler(KeyringError)
    async def _keys(request: Request, exc: KeyringError) -> JSONResponse:
        return keyring_problem(exc, request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        return problem_for(exc, request.url.path)


def _given(error: Any) -> str:
    """The value refused, for a value outside a closed set (an unknown scope, role or status):
    short and never personal data, it tells the caller which of its values was wrong."""
    value = error.get("input")
    if error.get("type") in ("enum", "literal_error") and isinstance(value, (str, int)) \
            and len(str(value)) <= 40:
        return f" (got {value!r})"
    return ""


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette's 405 names only the methods of the first route that matched the path, but a
    path is often served by several routes (GET and POST /v1/applicants are two).
    """
    from starlette.routing import Match

    methods: set[str] = set()
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return sorted(methods)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
