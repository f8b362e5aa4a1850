"""Fake data providers served over real HTTP on 127.0.0.1 (an ephemeral port, a thread), for the
connector tests: each scope answers from a script (slow, failing, flapping, malformed) and every
request is counted, so a test can tell a retry or an open circuit from the server's side."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Answer:
    """What the server sends: a status, a body (None: a valid empty payload for the business
    and date asked), after `delay` seconds."""

    status: int = 200
    body: Any = None
    delay: float = 0.0
    content_type: str = "application/json"


def ok(delay: float = 0.0) -> Answer:
    return Answer(200, None, delay)


def status(code: int, delay: float = 0.0) -> Answer:
    return Answer(code, {"error": f"status {code}"}, delay)


def garbage(text: str = "<html>gateway error</html>") -> Answer:
    return Answer(200, text.encode(), 0.0, "text/html")


class FakeSources:
    """`with FakeSources() as server:` then `server.script("bureau", status(500), ok())`: the
    n-th request for a scope gets the n-th answer (the last one from then on); unscripted
    scopes answer `ok()`.  `server.requests[scope]` counts the requests received."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.asked: list[tuple[str, str, str]] = []  # (scope, business id, as_of)
        self._scripts: dict[str, Sequence[Answer]] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner._answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def script(self, scope: str, *answers: Answer) -> None:
        with self._lock:
            self._scripts[scope] = answers

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        scope, _, business = parts.path.strip("/").partition("/")
        as_of = parse_qs(parts.query).get("as_of", [""])[0]
        with self._lock:
            n = self.requests[scope]
            self.requests[scope] += 1
            self.asked.append((scope, business, as_of))
            script = self._scripts.get(scope) or (ok(),)
            answer = script[min(n, len(script) - 1)]
        if answer.delay:
            time.sleep(answer.delay)
        body = answer.body
        if body is None:
            body = {"business_id": business, "as_of": as_of, "records": []}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up waiting (a timeout under test)
            pass

    def __enter__(self) -> FakeSources:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """`call()`'s result and the seconds it took."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start
