"""The running platform: database, loan book, decider, clock, payment rail and product shelf.

One object so the API, the CLI and tests wire the same parts the same way, and a lender swaps
one part (its own `Decider`, its bank's gateway) without touching the rest.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from puhui.book import LoanBook
from puhui.errors import RateCapExceeded
from puhui.loans.caps import offer_refusal
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.decision.outcome import Decider
from puhui.origination.default_policy import DefaultPolicy
from puhui.services.clock import Clock, SystemClock
from puhui.services.errors import NotFound
from puhui.services.gateway import PaymentGateway, SandboxGateway
from puhui.demo import DEMO_PRODUCTS
from puhui.store import faults
from puhui.store.caps_repo import current_cap_schedule
from puhui.store.db import ENV_VAR as DATABASE_URL_ENV  # noqa: F401  (the API's workers set it)
from puhui.store.db import make_engine, migrate, ping, reader_for, reading, single_writer

#: The ceiling on the comprehensive annualised cost (IRR, fees included) that regulators hold
#: licensed online lenders to: what a new database's cap setting starts at (migration 0007
#: seeds it as version 1).  The cap in force is the setting's, see `Platform.cap_in_force`.
DEFAULT_RATE_CAP = RateCap(Decimal("0.24"), "24% comprehensive cost cap")


_EVIDENCE = "puhui.evidence"


def keep_on_failure(session: Session, write: Callable[[Session], None]) -> None:
    """Have `write` run in a fresh transaction if the current unit of work fails."""
    session.info.setdefault(_EVIDENCE, []).append(write)


@dataclass
class Platform:
    engine: Engine
    book: LoanBook
    decider: Decider = field(default_factory=DefaultPolicy)
    clock: Clock = field(default_factory=SystemClock)
    gateway: PaymentGateway = field(default_factory=SandboxGateway)
    products: Mapping[str, LoanProduct] = field(
        default_factory=lambda: {p.code: p for p in DEMO_PRODUCTS})
    #: A fixed cap that overrides the database's cap setting (for a what-if or an embedding
    #: that keeps its own); None, the default, uses the setting in force on each business date.
    rate_cap: RateCap | None = None
    offer_validity: timedelta = timedelta(days=7)
    consent_validity: timedelta = timedelta(days=365)
    #: The data providers (`puhui.risk.data.connectors.ConnectorSet`) queried, under consent,
    #: before deciding; None decides on the application alone.
    connectors: Any = None
    #: The policy registry (`puhui.decision.policy_registry.PolicyRegistry`) decisions replay from.
    policies: Any = None
    #: The notification channels and rules (`puhui.services.notifications.Notifier`); None
    #: builds them from the environment at the first notification.
    notifications: Any = None
    #: What re-evaluates credit lines on fresh data (`puhui.services.reevaluation.LineMonitor`);
    #: None stores pushed monitoring data without re-evaluating any line.
    line_monitor: Any = None
    #: The sources' change feeds (`puhui.risk.data.feeds.ChangeFeed` by data scope) the line
    #: refresh takes monitoring data from; a scope without one is asked one business at a time
    #: through `connectors`.
    feeds: Any = None
    #: The collections policy registry (`puhui.collections.registry.CollectionsPolicyRegistry`)
    #: whose active version collections run under; None, or none active: the shipped policy.
    collections_policies: Any = None

    read_engine: Engine | None = None
    _refusals: dict[Any, str | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # the database's refusals reach the services and the API as `puhui.errors.StorageError`s
        for engine in (self.engine, self.read_engine, getattr(self.book, "engine", None)):
            if engine is not None:
                faults.install(engine)

    @property
    def plans_writes(self) -> bool:
        """Whether work that only inserts is best planned (`puhui.services.planned`): the
        database admits one writer at a time (SQLite), so reading and deciding outside the
        write lock lets server processes overlap."""
        return single_writer(self.engine)

    def ping(self) -> None:
        """One round trip to the database (`StorageUnavailable` if it does not answer)."""
        with self.read() as session:
            ping(session)

    @classmethod
    def open(cls, url: str | None = None, *, run_migrations: bool = True,
             **parts: Any) -> "Platform":
        """Connect to the database at `url` (default: the configured one), migrated.

        Reads get an engine of their own: on SQLite it begins DEFERRED, so a page of loans or
        an API key lookup never queues behind the single writer, and it refuses writes.
        """
        engine = make_engine(url)
        if run_migrations:
            migrate(engine)
        reader = reader_for(engine)
        return cls(engine=engine, book=LoanBook(engine), read_engine=reader, **parts)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; nothing it does is committed (closing the session rolls
        its transaction back).  Its transaction begins at its first statement."""
        with reading(self.read_engine or self.engine) as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A bare connection for a few reads (an API key lookup, where a session would cost
        more than the reads); nothing it does is committed."""
        with (self.read_engine or self.engine).connect() as conn:
            yield conn

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A write transaction on a bare connection, committed at the end: for writes decided
        beforehand (a planned unit's INSERTs), which touch no loan and keep no evidence.  The
        transaction begins on entry (`LoanBook.connection_transaction`, with the writer lock);
        it commits when the block ends normally and rolls back if it raises."""
        with self.book.connection_transaction() as conn:
            yield conn

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One business operation's transaction.

        Who begins and who commits: the transaction is the loan book's
        (`LoanBook.transaction`: it takes SQLite's writer lock, if any, and begins the session's
        transaction at entry; SQLite then sends `BEGIN IMMEDIATE` and PostgreSQL `BEGIN` with
        the first statement).  The block's code (services, and the
        store's repositories they call) only adds and executes in the yielded session; none of
        it commits or rolls back.  This context manager commits when the block ends normally
        and rolls back when it raises, so one business operation is one transaction.  Store
        repositories never open a transaction of their own: they work in the session or
        connection they are given (a `PreparedStatement` begins the connection's transaction
        if nothing has yet, which this unit then commits).

        Evidence registered with `keep_on_failure` (a refused data query, a failed account check)
        is written in a transaction of its own after the operation rolls back: the refusal is
        itself a fact an auditor must see, though the operation left nothing else behind.
        """
        evidence: list[Callable[[Session], None]] = []
        try:
            with self.book.transaction() as session:
                session.info[_EVIDENCE] = evidence
                yield session
        except BaseException:
            if evidence:
                with self.book.transaction() as session:
                    for write in evidence:
                        write(session)
            raise

    def product(self, code: str) -> LoanProduct:
        try:
            product = self.products[code]
        except KeyError:
            raise NotFound(f"no product {code!r}; offered: {sorted(self.products)}") from None
        return product

    def cap_in_force(self, session: Session, on: date) -> RateCap:
        """The rate cap on `on`: the cap setting's version in force (and for an LPR multiple,
        the LPR in force), with its provenance; `NoRateCapInForce` if none is."""
        if self.rate_cap is not None:
            return self.rate_cap
        return current_cap_schedule(session).cap_in_force(on)

    def offer_refusal(self, product: LoanProduct, cap: RateCap, on: date) -> str | None:
        """Why `product` is not offered under `cap` on `on` (its nominal rate or its all-in
        cost at either end of its principal range is above the cap), or None."""
        key = (product, cap, on)
        if key not in self._refusals:
            if len(self._refusals) > 1024:
                self._refusals.clear()
            self._refusals[key] = offer_refusal(product, cap, on)
        return self._refusals[key]

    def offered_product(self, session: Session, code: str, on: date) -> tuple[LoanProduct, RateCap]:
        """The product `code` and the cap in force on `on`; `RateCapExceeded` (saying why)
        if the product can cost more than that cap, so it is not offered."""
        product = self.product(code)
        cap = self.cap_in_force(session, on)
        refusal = self.offer_refusal(product, cap, on)
        if refusal is not None:
            raise RateCapExceeded(refusal)
        return product, cap

    def term_products(self) -> list[LoanProduct]:
        return [p for p in self.products.values() if p.method is not RepaymentMethod.REVOLVING]

    def close(self) -> None:
        if self.read_engine is not None and self.read_engine is not self.engine:
            self.read_engine.dispose()
        self.engine.dispose()
        self.book.close()
