"""Which database a command works on, and the loan book over it, for the front ends.

Why here: the command line chooses and opens databases (a fresh SQLite file for a demo, an
existing book for everything that reads one) but, like the API, it reaches the store only
through the services.
"""

from __future__ import annotations

from puhui.book import LoanBook
from puhui.store import application_repo
from puhui.store.db import database_url, discard_sqlite_file, make_engine, migrate, require_existing
from puhui.services.platform import Platform


def open_book(url: str | None = None) -> tuple[LoanBook, str]:
    """The loan book on the database at `url` (default: the configured one), migrated."""
    url = url or database_url()
    migrate(url)
    return LoanBook(make_engine(url)), url


def application_count(platform: Platform) -> int:
    with platform.read() as session:
        return application_repo.count(session)


__all__ = ["application_count", "database_url", "discard_sqlite_file", "open_book",
           "require_existing"]
