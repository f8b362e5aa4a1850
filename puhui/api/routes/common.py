"""What every route shares: how it is declared in the OpenAPI document, and pagination.

Every route is declared with `operation(...)`: an operation id, the response model of its
success, the problem details it can answer with and, for a POST, the `Idempotent-Replayed`
header.  `tests/api/test_api_openapi.py` refuses a route declared otherwise, and the
schemathesis run refuses an answer the declaration does not cover.

Pagination is keyset on the time-ordered id, never an offset, so a page stays stable while new
records arrive.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from fastapi import Query
from fastapi.responses import Response

from puhui.api.calls import Call, encoded
from puhui.api.problems import ProblemException
from puhui.api.responses import Problem

#: What each status means, as the OpenAPI document describes the problem it answers with.
PROBLEMS: dict[int, str] = {
    400: "Malformed request: the body is not JSON, or a pagination cursor is not one this API "
         "gave out",
    401: "Missing, malformed, unknown or revoked API key",
    403: "The API key's role or scopes do not allow this call",
    404: "No such record, or not visible to this API key",
    409: "The record's state does not allow this (the problem's type says why)",
    422: "The request is well-formed but invalid (validation-error lists the fields in errors[])",
    429: "Too many requests; retry after the Retry-After header's seconds",
    503: "The database is busy or unavailable, or a personal-data key is missing or the data "
         "failed its integrity check (unavailable, personal-data-unavailable, "
         "personal-data-integrity); nothing changed",
}
#: A cursor is a record id (see puhui.services.ids); anything else is refused with 400.
CURSOR_PATTERN = r"^[A-Z]{1,3}[0-9a-f]{22}$"
#: Every authenticated operation can answer these.
ALWAYS = (401, 422, 503)
REPLAYED_HEADER = {"Idempotent-Replayed": {
    "description": "`true` when this is the stored answer to an earlier request with the same "
                   "Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]}}}


def operation(operation_id: str, model: type, *errors: int, status: int = 200, summary: str,
              description: str | None = None, post: bool = False, public: bool = False,
              example: Any = None) -> dict[str, Any]:
    """The keyword arguments of a route decorator: `@router.get(path, **operation(...))`.

    `model` documents the success body (routes answer with encoded JSON, so it is not used to
    re-validate it); `errors` are the statuses beyond 401, 422 and 503 the route can answer
    (a `public` route, which needs no key, answers only 503 beyond them).
    """
    always = {503} if public else set(ALWAYS) | ({400} if post else set())
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem, "description": PROBLEMS[code]}
        for code in sorted(always | set(errors))}
    success: dict[str, Any] = {}
    if post:
        success["headers"] = REPLAYED_HEADER
    if example is not None:
        success["content"] = {"application/json": {"example": example}}
    if success:
        responses[status] = success
    return {"operation_id": operation_id, "response_model": model, "status_code": status,
            "responses": responses, "summary": summary, "description": description}


class Page:
    def __init__(self, limit: int = Query(50, ge=1, le=200, description="items per page"),
                 cursor: str | None = Query(None, max_length=64,
                                            description="next_cursor of the previous page",
                                            json_schema_extra={"pattern": CURSOR_PATTERN})):
        if cursor is not None and re.fullmatch(CURSOR_PATTERN, cursor) is None:
            raise ProblemException(400, "invalid-cursor", "Invalid pagination cursor",
                                   "cursor must be the next_cursor of a previous page")
        self.limit, self.cursor = limit, cursor

    def answer(self, items: list[dict[str, Any]], id_field: str) -> dict[str, Any]:
        more = len(items) == self.limit
        return {"items": items, "next_cursor": items[-1][id_field] if more and items else None}


def listing(c: Call, page: Page, id_field: str,
            fetch: Callable[..., list[dict[str, Any]]]) -> Response:
    return encoded(page.answer(c.read(lambda s: fetch(s, page.cursor, page.limit)), id_field))
