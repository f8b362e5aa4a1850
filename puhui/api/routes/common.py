"""Pagination shared by every list endpoint: keyset on the time-ordered id, never an offset,
so a page stays stable while new records arrive."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import Query

from puhui.api.calls import Call


class Page:
    def __init__(self, limit: int = Query(50, ge=1, le=200, description="items per page"),
                 cursor: str | None = Query(None, max_length=64,
                                            description="next_cursor of the previous page")):
        self.limit, self.cursor = limit, cursor

    def answer(self, items: list[dict[str, Any]], id_field: str) -> dict[str, Any]:
        more = len(items) == self.limit
        return {"items": items, "next_cursor": items[-1][id_field] if more and items else None}


def listing(c: Call, page: Page, id_field: str,
            fetch: Callable[..., list[dict[str, Any]]]) -> dict[str, Any]:
    return page.answer(c.read(lambda s: fetch(s, page.cursor, page.limit)), id_field)
