"""A change feed over HTTP, against a fake feed served by the test on 127.0.0.1: the page read
as sent (cursor, more, each business's delta kept in its canonical bytes), the cursor and page
size asked with, and the failures read as the connectors' are."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from puhui.parties.consent import DataScope
from puhui.risk.data.feeds import ChangeFeed
from puhui.risk.errors import InvalidParameter, SourceFailed, SourceUnavailable
from puhui.services.change_feeds import HttpChangeFeed

DAY = date(2026, 12, 7)
DELTA = {"business_id": "91310000MA1FL0001X", "as_of": "2026-12-07", "records": [
    {"utility": "electricity", "period_month": "2026-11", "usage": 1200, "amount_fen": 96000,
     "billed_on": "2026-12-05", "due_on": "2026-12-15", "paid_on": None}]}


class FakeFeed:
    """Answers `GET /changes` from `answers` (status, body, delay) in turn, the last one from
    then on, recording each query."""

    def __init__(self, *answers: tuple[int, Any, float]) -> None:
        self.answers, self.asked = list(answers), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                owner.asked.append((parts.path, {k: v[0] for k, v in
                                                 parse_qs(parts.query).items()}))
                code, body, delay = owner.answers[min(len(owner.asked), len(owner.answers)) - 1]
                if delay:
                    time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/utility"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "FakeFeed":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_page_is_read_with_its_cursor_and_each_delta_kept_as_canonical_bytes() -> None:
    # sent with spaces and keys out of order: kept in the canonical form the store packs
    body = (b'{"more": true, "cursor": "c-2", "changes": [{"payload": '
            + json.dumps(DELTA, indent=1).encode() + b', "business_id": "91310000MA1FL0001X"}]}')
    with FakeFeed((200, body, 0.0)) as server:
        feed = HttpChangeFeed("utility", server.url + "/")
        assert isinstance(feed, ChangeFeed)
        page = feed.changes("c-1", 500, DAY)
        first = feed.changes(None, 2, DAY)
        feed.close()
    assert page.cursor == "c-2" and page.more
    [change] = page.changes
    assert change.business_id == "91310000MA1FL0001X"
    assert change.received.payload == DELTA
    assert change.received.body == orjson.dumps(DELTA, option=orjson.OPT_SORT_KEYS)
    assert server.asked[0] == ("/v1/utility/changes",
                               {"since": "c-1", "limit": "500", "as_of": "2026-12-07"})
    assert server.asked[1] == ("/v1/utility/changes", {"limit": "2", "as_of": "2026-12-07"})
    assert first.changes[0].received.payload == DELTA


@pytest.mark.parametrize("answer, error, transient", [
    ((503, {"error": "down"}, 0.0), SourceFailed, True),
    ((429, {"error": "slow down"}, 0.0), SourceFailed, True),
    ((403, {"error": "no"}, 0.0), SourceFailed, False),
    ((404, {"error": "no feed"}, 0.0), SourceUnavailable, None),
    ((200, b"<html>gateway</html>", 0.0), SourceFailed, False),
    ((200, {"cursor": 3, "more": False, "changes": []}, 0.0), SourceFailed, False),
    ((200, {"cursor": "x", "more": False, "changes": [{"payload": {}}]}, 0.0), SourceFailed,
     False),
    ((200, {"cursor": "x", "more": False, "changes": []}, 1.0), SourceFailed, True),
])
def test_failures_read_as_the_connectors_do(answer, error, transient) -> None:
    with FakeFeed(answer) as server:
        feed = HttpChangeFeed(DataScope.UTILITY, server.url, timeout=0.3)
        with pytest.raises(error) as caught:
            feed.changes(None, 10, DAY)
        feed.close()
    if transient is not None:
        assert caught.value.transient is transient


def test_a_feed_nobody_answers_is_a_transient_failure_and_bad_settings_are_refused() -> None:
    with FakeFeed((200, {}, 0.0)) as server:
        url = server.url
    with pytest.raises(SourceFailed) as caught:
        HttpChangeFeed("utility", url, timeout=0.3).changes(None, 10, DAY)
    assert caught.value.transient
    with pytest.raises(InvalidParameter):
        HttpChangeFeed("utility", "ftp://feed.example")
    with pytest.raises(InvalidParameter):
        HttpChangeFeed("utility", "https://feed.example", timeout=0)
    with pytest.raises(InvalidParameter):
        HttpChangeFeed("utility", "https://feed.example").changes(None, 0, DAY)
