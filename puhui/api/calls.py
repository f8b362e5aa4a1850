"""What every request shares: the platform, the authenticated caller, and the Idempotency-Key.

A POST with an `Idempotency-Key` header runs at most once per calling key: its answer is stored
in the same transaction as the change it made, so a retry after a timeout gets the first answer
back (with `Idempotent-Replayed: true`) and a key reused for a different request is refused.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from puhui.errors import WriteConflict
from puhui.json_text import dumps
from puhui.services.access import Principal, authenticate
from puhui.services.errors import AuthenticationFailed, IdempotencyKeyReused
from puhui.services import stages
from puhui.services.planned import UnplannableWrite, planned
from puhui.services import idempotency as records
from puhui.services.platform import Platform

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

MAX_KEY = 200
#: Printable ASCII without leading or trailing blanks (HTTP strips those in transit).
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
KEY_DESCRIPTION = (
    "Makes the POST safe to retry: the first answer to this key (per API key) is stored with the "
    "change and replayed, with `Idempotent-Replayed: true`, to a retry with the same body. "
    f"1-{MAX_KEY} "
    "printable ASCII characters; a UUID is a good choice. The same key with another body is "
    "refused (422 idempotency-key-reused); a retry while the first is in flight waits for it.")
Unit = TypeVar("Unit", "Session", "Connection")


def _encode(result: Any) -> str:
    """The response body as stored for replays: compact JSON, non-ASCII kept."""
    return dumps(result)


def encoded(result: Any, status: int = 200) -> Response:
    """An answer already encoded, so FastAPI sends it as is (no re-validation on the way out)."""
    return Response(_encode(result), status_code=status, media_type="application/json")


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


#: The two ways to present an API key, as the OpenAPI document declares them (globally, in
#: `app._openapi`: declaring them as FastAPI security dependencies would cost every request two
#: more dependency calls for nothing `caller` does not do).
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "`Authorization: Bearer <API key>`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "the API key in an `X-API-Key` header"},
}


async def caller(request: Request) -> Principal:
    """The principal behind `Authorization: Bearer <key>` (or `X-API-Key`).

    Run on the event loop, not in a worker thread: one indexed lookup costs less than the
    thread hand-off would (and a bare connection less than a session).
    """
    headers = request.headers
    authorization = headers.get("authorization")
    token = headers.get("x-api-key")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationFailed("use 'Authorization: Bearer <API key>'")
        token = value.strip()
    with platform_of(request).read_connection() as conn:
        return authenticate(conn, token)


async def body_bytes(request: Request) -> bytes:
    return await request.body()


@dataclass
class Call:
    platform: Platform
    actor: Principal
    request: Request
    body: bytes
    idempotency_key: str | None

    def read(self, fn: Callable[[Session], Any]) -> Any:
        with self.platform.read() as session:
            return fn(session)

    def show(self, fn: Callable[[Session], Any], key: str | None = None) -> Response:
        """`read` answered as encoded JSON; `key` wraps the result (`{"items": [...]}`)."""
        result = self.read(fn)
        return encoded({key: result} if key else result)

    def write(self, fn: Callable[[Session], Any], status: int = 200) -> Response:
        """Run `fn` in one transaction; honour the Idempotency-Key if the caller sent one."""
        if self.idempotency_key is None:
            with self.platform.unit() as session:
                result = fn(session)
            return encoded(result, status)

        def work(session: Session) -> Response | str:
            # a concurrent request with this key finishes first; then its answer is replayed
            records.wait_for_key(session, self.actor.key_id, self.idempotency_key)
            replay = self._replay(session)
            if replay is not None:
                return replay
            text = _encode(fn(session))
            self._remember(session, status, text)
            return text
        return self._in_unit(self.platform.unit, work, status)

    def _in_unit(self, unit: Callable[[], AbstractContextManager[Unit]],
                 work: Callable[[Unit], Response | str], status: int) -> Response:
        """Run `work` in one write transaction (`unit`); it answers with a replayed response or
        the JSON text it stored.  If the write fails on the idempotency record, a concurrent
        request with the same key committed first: answer as it did."""
        try:
            with stages.stage("write"), unit() as session:
                answer = work(session)
        except WriteConflict:
            if self.idempotency_key is None:
                raise
            with self.platform.read() as session:
                replay = self._replay(session)
            if replay is None:
                raise
            return replay
        if isinstance(answer, Response):
            return answer
        return Response(answer, status_code=status, media_type="application/json")

    async def write_hot(self, fn: Callable[[Session], Any], status: int = 200) -> Response:
        """`write` for the high-volume endpoints whose work only inserts.

        On SQLite it runs inline (no hand-off to a worker thread) and planned: the reading and
        deciding happen in a read transaction and only the inserts take the single write lock,
        so server processes overlap their work instead of queueing for all of it.  On
        PostgreSQL it runs in the thread pool so requests overlap their round trips.
        """
        if self.platform.plans_writes:
            try:
                return self._write_planned(fn, status)
            except UnplannableWrite:
                return self.write(fn, status)
        return await run_in_threadpool(self.write, fn, status)

    def _write_planned(self, fn: Callable[[Session], Any], status: int) -> Response:
        with planned(self.platform) as (session, plan):
            if self.idempotency_key is not None:
                replay = self._replay(session)
                if replay is not None:
                    return replay
            text = _encode(fn(session))

        def work(conn: Connection) -> str:
            plan.write(conn)
            if self.idempotency_key is not None:
                self._remember(conn, status, text)
            return text
        return self._in_unit(self.platform.write_connection, work, status)

    def _remember(self, unit: Session | Connection, status: int, text: str) -> None:
        records.remember(unit, principal=self.actor.key_id, key=self.idempotency_key,
                         method=self.request.method, path=self.request.url.path,
                         request_hash=self._fingerprint(), status_code=status, response=text,
                         created_at=self.platform.clock.now())

    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.request.method.encode(), self.request.url.path.encode(),
                     str(self.request.url.query).encode(), self.body):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()

    def _replay(self, session: Session) -> Response | None:
        row = records.find(session, self.actor.key_id, self.idempotency_key)
        if row is None:
            return None
        if row.request_hash != self._fingerprint():
            raise IdempotencyKeyReused(
                f"Idempotency-Key {self.idempotency_key!r} was first used for {row.method} "
                f"{row.path} with a different body; use a new key for a new request")
        return Response(row.response, status_code=row.status_code, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})


async def read_call(request: Request, actor: Principal = Depends(caller)) -> Call:
    """A GET: authenticated, no body, no Idempotency-Key."""
    return Call(platform_of(request), actor, request, b"", None)


async def call(request: Request, actor: Principal = Depends(caller),
               body: bytes = Depends(body_bytes),
               idempotency_key: str | None = Header(
                   None, alias="Idempotency-Key", min_length=1, max_length=MAX_KEY,
                   pattern=KEY_PATTERN, description=KEY_DESCRIPTION,
                   examples=["5f0c6c1e-8a4e-4d3b-9d7e-2a1c9b7e4f10"])) -> Call:
    """A POST: the Idempotency-Key is optional (and recommended)."""
    return Call(platform_of(request), actor, request, body, idempotency_key)


async def keyed_call(request: Request, actor: Principal = Depends(caller),
                     body: bytes = Depends(body_bytes),
                     idempotency_key: str = Header(
                         alias="Idempotency-Key", min_length=1, max_length=MAX_KEY,
                         pattern=KEY_PATTERN, description=KEY_DESCRIPTION + " Required here.",
                         examples=["5f0c6c1e-8a4e-4d3b-9d7e-2a1c9b7e4f10"])) -> Call:
    """A POST that moves money: the Idempotency-Key is required."""
    return Call(platform_of(request), actor, request, body, idempotency_key)
