"""Durable storage: SQLite or PostgreSQL through SQLAlchemy, schema managed by Alembic.

`migrate(url)` brings a database to the current schema; `LedgerRepository` and
`LoanEventRepository` work inside a caller's session, and the caller commits.

The store owns every SQL statement, transaction helper and dialect difference: the services
call its repositories (`application_repo`, `applicant_repo`, `key_repo`, `privacy_repo`,
`risk_repo`, `caps_repo`, `ledger_repo`, `loan_repo`, `idempotency`, `business_days`) and
never build a statement; the API never imports the store.

Transactions (the unit of work): a transaction begins where the caller opens one, never inside
a repository.  `LoanBook.transaction` (behind `Platform.unit`) takes SQLite's writer lock and
begins a session's transaction, and commits it when the block ends normally (rolls back when it
raises); `LoanBook.connection_transaction` (behind `Platform.write_connection`) does the same on
a bare connection; `db.transaction(engine)` is the same for work outside the platform.  Reads
run in sessions that are rolled back on close (`Platform.read`).  A repository function works
in the session or connection it is given and never commits or rolls back; a
`PreparedStatement` begins the connection's transaction if none has begun yet (it is then the
caller's to commit).  A planned unit (`planned.py`) reads in a transaction it rolls back and
leaves its INSERTs for the caller to write in a write transaction of its own.  The database's
refusals reach the callers as `puhui.errors.StorageError`s (`faults.py`).
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
from puhui.store import warnings_repo  # noqa: F401  (registers warnings, positions, provisions)
from puhui.store import line_repo  # noqa: F401  (registers the credit lines and their events)
from puhui.store import servicing_repo  # noqa: F401  (registers staff servicing requests)
from puhui.store import notification_models  # noqa: F401  (registers the notifications)
from puhui.store import line_models  # noqa: F401  (registers the line decision records)
from puhui.store import collections_repo  # noqa: F401  (registers the collections tables)
from puhui.store import settlement_repo  # noqa: F401  (registers the settlement cache)
from puhui.store import monitoring_models  # noqa: F401  (registers the merged monitoring data)
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository, LoanRecord, canonical_json

__all__ = [
    "DEFAULT_DATABASE_URL", "LedgerRepository", "LoanEventRepository", "LoanRecord",
    "canonical_json", "current_revision", "database_url", "head_revision", "make_engine",
    "migrate", "session_factory",
]
