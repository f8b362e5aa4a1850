"""Durable storage: SQLite or PostgreSQL through SQLAlchemy, schema managed by Alembic.

`migrate(url)` brings a database to the current schema; `LedgerRepository` and
`LoanEventRepository` work inside a caller's session, and the caller commits.
"""

from puhui.store.db import (
    DEFAULT_DATABASE_URL,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    migrate,
    session_factory,
)
from puhui.store import platform_models  # noqa: F401  (registers the platform's tables)
from puhui.store import risk_models  # noqa: F401  (registers the risk engine's tables)
from puhui.store import decision_models  # noqa: F401  (registers the decision records)
from puhui.store import caps_models  # noqa: F401  (registers the rate cap setting's history)
from puhui.store import close_models  # noqa: F401  (registers snapshots, positions, closes)
from puhui.store import job_runs  # noqa: F401  (registers the scheduled jobs' runs)
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository, LoanRecord, canonical_json

__all__ = [
    "DEFAULT_DATABASE_URL", "LedgerRepository", "LoanEventRepository", "LoanRecord",
    "canonical_json", "current_revision", "database_url", "head_revision", "make_engine",
    "migrate", "session_factory",
]
