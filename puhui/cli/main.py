"""`puhui` command line: run the demo book, close days, inspect loans, serve the API, simulate
the platform, apply for a loan; the other command groups are mounted from their modules
(ledger, keys, privacy, caps, train, risk, policy, portfolio)."""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.progress import Progress, TextColumn
from rich.table import Table
from typer.core import TyperGroup

from puhui.cli.caps import caps_app
from puhui.cli.collections import collections_app
from puhui.cli.common import (DECIDER_HELP, RISK, _book, _date, _existing, _existing_book,
                              _platform, _risk_options, console)
from puhui.cli.keys import keys_app
from puhui.cli.ledger import ledger_app
from puhui.cli.lines import lines_app
from puhui.cli.notifications import notifications_app, reminders_app
from puhui.cli.policy import policy_app
from puhui.cli.line_policy import line_policy_app
from puhui.cli.collections_policy import collections_policy_app
from puhui.cli.privacy import privacy_app
from puhui.cli.portfolio import portfolio_app
from puhui.cli.risk import risk_app
from puhui.cli.servicing import servicing_app
from puhui.cli.train import train_app
from puhui.errors import PuhuiError

#: Exit status of a command stopped by a deployment fault (a personal-data key missing or a
#: sealed value failing its integrity check); 1 is a failed run, 2 a refused request.
EXIT_KEY_FAULT = 3


class _PuhuiGroup(TyperGroup):
    """The top-level group: a personal-data key fault from any command is a one-line message
    naming the key id (never key material) and exit `EXIT_KEY_FAULT`, not a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from puhui.errors import KeyMissing, KeyringError, SealBroken

        try:
            return super().invoke(ctx)
        except KeyMissing as exc:
            Console(stderr=True).print(
                f"[red]personal data unavailable: master key {exc.key_id!r} is not in the "
                f"keyring (check PUHUI_DATA_KEYS or the key file); nothing was changed[/red]")
        except SealBroken as exc:
            Console(stderr=True).print(
                f"[red]personal data integrity fault: {exc}; nothing was changed. The stored "
                f"value may have been altered: investigate before retrying[/red]")
        except KeyringError as exc:
            Console(stderr=True).print(
                f"[red]personal data unavailable: {exc}; nothing was changed[/red]")
        raise typer.Exit(EXIT_KEY_FAULT)


app = typer.Typer(help="Puhui: digital lending for small and micro businesses.",
                  no_args_is_help=True, cls=_PuhuiGroup)
loans_app = typer.Typer(help="Loans in the book.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(loans_app, name="loans")
app.add_typer(lines_app, name="lines")
app.add_typer(keys_app, name="keys")
app.add_typer(privacy_app, name="privacy")
app.add_typer(caps_app, name="caps")
app.add_typer(train_app, name="train")
app.add_typer(risk_app, name="risk")
app.add_typer(policy_app, name="policy")
app.add_typer(portfolio_app, name="portfolio")
app.add_typer(servicing_app, name="servicing")
app.add_typer(reminders_app, name="reminders")
app.add_typer(notifications_app, name="notifications")
app.add_typer(line_policy_app, name="line-policy")
app.add_typer(collections_app, name="collections")
app.add_typer(collections_policy_app, name="collections-policy")


@app.command()
def run(loans: int = typer.Option(200, help="loans in the synthetic book"),
        days: int = typer.Option(240, help="days of servicing to simulate"),
        db: Optional[str] = typer.Option(None, help="database URL (default: PUHUI_DATABASE_URL or SQLite)"),
        fresh: bool = typer.Option(True, help="start from an empty SQLite file"),
        seed: int = typer.Option(7)) -> None:
    """The main job: originate a synthetic book, service it day by day, report and verify."""
    from puhui.report import portfolio_report, render
    from puhui.book_simulation import simulate
    from puhui.services.database import database_url, discard_sqlite_file

    url = db or database_url()
    if fresh:
        discard_sqlite_file(url)
    book, url = _book(url)
    console.print(f"Database: {url}")
    with Progress(console=console) as progress:
        task = progress.add_task(f"Servicing {loans} loans for {days} days", total=days)
        result = simulate(book, loans=loans, days=days, seed=seed,
                          progress=lambda n: progress.advance(task, n))
    as_of = result.end
    accounts = [book.load(b.loan_id) for b in result.borrowers]
    report = portfolio_report(accounts, as_of, book.balances(), book.trial_balance(), book.verify_ledger())
    render(report)
    for loan_id, failure in result.eod_failures.items():
        console.print(f"[red]end of day failed for {loan_id}: {failure}[/red]")
    if any(report.trial_balance.values()) or result.eod_failures:
        raise typer.Exit(1)


@app.command()
def eod(business_date: str = typer.Argument(..., help="YYYY-MM-DD"),
        db: Optional[str] = typer.Option(None)) -> None:
    """Close a business day for every active loan (accrual, penalty, fees, aging), then erase
    registrations that received no consent within PUHUI_UNCONSENTED_RETENTION_DAYS.

    The date may not be ahead of today's business date nor before the last closed day; days
    skipped since the last close are closed first, in order."""
    from puhui.services.access import SYSTEM
    from puhui.services.business_day import (check_close_date, close_day,
                                             unconsented_retention_days)
    from puhui.services.clock import SystemClock
    from puhui.services.platform import Platform

    day = _date(business_date)
    url = _existing(db)
    clock = SystemClock()
    platform = Platform.open(url, clock=clock)
    try:
        try:
            unconsented_retention_days()
            check_close_date(day, clock, platform.book)
        except PuhuiError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2)
        total = platform.book.to_close(day)
        started = time.perf_counter()
        columns = (*Progress.get_default_columns(), TextColumn("{task.fields[partitions]} "
                   "partitions"), TextColumn("{task.fields[rate]} loans/s"))
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"End of day {day}", total=total, partitions=0, rate="-")

            def advance(n: int) -> None:
                done = progress.tasks[0].completed + n
                rate = f"{done / max(time.perf_counter() - started, 1e-9):,.0f}"
                progress.update(task, advance=n, rate=rate,
                                partitions=progress.tasks[0].fields["partitions"] + 1)

            closed = close_day(platform, SYSTEM, day, progress=advance)
    finally:
        platform.close()
    report = closed.report
    if len(report.days) > 1:
        console.print(f"closed the skipped days {report.days[0]} to {report.days[-2]} first")
    took = time.perf_counter() - started
    console.print(f"{report.loans} loans closed for {day}; {report.entries} journal entries posted; "
                  f"{report.partitions} partitions, {report.plain} loans charged from their "
                  f"positions; {took:.1f} s")
    console.print(f"{len(closed.unconsented_erased)} registration(s) without consent erased")
    for loan_id, failure in report.failures.items():
        console.print(f"[red]{loan_id}: {failure}[/red]")
    if report.failures:
        raise typer.Exit(1)


@loans_app.command("show")
def loans_show(loan_id: str, as_of: Optional[str] = typer.Option(None, help="YYYY-MM-DD"),
               db: Optional[str] = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """A loan's balances, delinquency and schedule, reconciled against its sub-ledger."""
    from puhui.loans.product import Component
    from puhui.loans.servicing import Loan

    book, _ = _existing_book(db)
    try:
        account = book.load(loan_id)
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    day = _date(as_of) if as_of else (account.last_date or date.today())
    ledger = {code: amt for (code, _), amt in book.sub_ledger(loan_id).items()
              if code in ("1301", "1302", "1303", "1304", "2241")}
    summary = {"loan_id": loan_id, "product": account.product.code, "status": account.status.value,
               "as_of": day.isoformat(), "days_past_due": account.days_past_due(day),
               "risk_class": account.risk_class(day).value, "balances": account.balances(),
               "sub_ledger": ledger, "reconciled": account.balances() == ledger}
    if isinstance(account, Loan):
        summary["instalments"] = [i.as_dict() for i in account.instalments]
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print({k: v for k, v in summary.items() if k != "instalments"})
    if isinstance(account, Loan):
        table = Table("#", "due", "principal", "interest", "fee", "paid P", "paid I", "paid F")
        for i in account.instalments:
            table.add_row(str(i.number), i.due.isoformat(), *(f"{v / 100:,.2f}" for v in (
                i.principal, i.interest, i.fee, i.paid[Component.PRINCIPAL],
                i.paid[Component.INTEREST], i.paid[Component.FEE])))
        console.print(table)


@loans_app.command("list")
def loans_list(status: Optional[str] = typer.Option(None), db: Optional[str] = typer.Option(None)) -> None:
    """Loan ids in the book, optionally by status."""
    from puhui.loans.state import LoanStatus

    book, _ = _existing_book(db)
    try:
        wanted = LoanStatus(status) if status else None
    except ValueError:
        console.print(f"[red]unknown status {status!r}; choose from {[s.value for s in LoanStatus]}[/red]")
        raise typer.Exit(2)
    for loan_id in book.loan_ids(wanted):
        console.print(loan_id)


@loans_app.command("refund")
def loans_refund(loan_id: str,
                 key: str = typer.Option(..., help="idempotency key: a retry with the same key "
                                                   "refunds nothing more"),
                 amount: Optional[int] = typer.Option(None, min=1, help="fen (default: the whole "
                                                                        "credit balance)"),
                 db: Optional[str] = typer.Option(None)) -> None:
    """Refund a borrower's credit balance (an overpayment) to their bound account."""
    from puhui.money import MAX_AMOUNT
    from puhui.services.access import SYSTEM
    from puhui.services.loans import refund_credit

    if amount is not None and amount > MAX_AMOUNT:
        console.print(f"[red]--amount is above the largest amount accepted ({MAX_AMOUNT})[/red]")
        raise typer.Exit(2)
    platform = _platform(_existing(db))
    try:
        with platform.unit() as session:
            view = refund_credit(platform, session, SYSTEM, loan_id, f"cli-refund:{key}", amount)
    except PuhuiError as exc:
        console.print(f"[red]refund refused: {exc}[/red]")
        raise typer.Exit(2)
    finally:
        platform.close()
    refund = view["refund"]
    console.print(f"refunded {refund['amount'] / 100:,.2f} {view['currency']} of loan {loan_id} to "
                  f"{refund['payee_account']} ({refund['gateway_ref']}); credit balance now "
                  f"{view['credit_balance'] / 100:,.2f}")


@app.command()
def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000),
          db: Optional[str] = typer.Option(None, help="database URL"),
          demo: bool = typer.Option(False, help="seed a demo book first if the database is empty"),
          businesses: int = typer.Option(100, help="demo: businesses in the synthetic book"),
          days: int = typer.Option(90, help="demo: days of history up to today"),
          decider: str = typer.Option("risk", help=DECIDER_HELP),
          models: Path = typer.Option(RISK["models"], help="model registry directory"),
          policies: Path = typer.Option(RISK["policies"], help="policy registry directory"),
          workers: int = typer.Option(1, min=1, help="worker processes (one per core serves "
                                                     "the most applications per second)"),
          scheduler: Optional[bool] = typer.Option(
              None, "--scheduler/--no-scheduler",
              help="run the daily jobs (docs/scheduler.md) in this process, the supervisor of "
                   "the workers; default: PUHUI_SCHEDULER (off)"),
          ) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from puhui.api import create_app
    from puhui.api.workers import ENV_GC_YOUNG, gc_young, tune_collector
    from puhui.services import access

    try:  # a bad setting stops here, before any worker starts
        gc_young(os.environ.get(ENV_GC_YOUNG))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    risk = _risk_options(decider, models, policies)
    platform = _platform(db, risk)
    if demo:
        _seed_demo(db, businesses, days, risk)
    with platform.unit() as session:
        admin = access.issue_key(session, "demo admin", "admin") if demo else None
        partner = access.issue_key(session, "demo partner", "partner", "P-DEMO") if demo else None
    url = f"http://{host}:{port}"
    _print_serving(console, url, admin.token if admin else None, partner.token if partner else None)
    from puhui.cli.scheduler import scheduler_beside

    with scheduler_beside(db, scheduler, risk):
        if workers == 1:
            served = create_app(platform)
            tune_collector(os.environ.get(ENV_GC_YOUNG))
            uvicorn.run(served, host=host, port=port, log_level="warning")
            return
        from puhui.api import supervisor
        from puhui.api.workers import worker_environment

        platform.close()  # each worker opens its own; the models are trained by now
        os.environ.update(worker_environment(db, decider, models, policies))
        console.print(f"{workers} worker processes")
        try:
            supervisor.serve(workers, host, port)
        except (OSError, supervisor.WorkerFailedToStart) as exc:
            console.print(f"[red]cannot serve on {host}:{port}: {exc}[/red]")
            raise typer.Exit(1)


def _print_serving(out: Console, url: str, admin_token: str | None,
                   partner_token: str | None) -> None:
    """Say where the API listens and, for a demo, the keys and a command to try.

    The key and curl lines are printed without wrapping, markup or highlighting: a terminal
    80 columns wide would otherwise break the token across lines, and a copied command or key
    would then fail to authenticate.
    """
    out.print(f"[bold green]Puhui API on {url}[/bold green]  (docs: {url}/docs)")
    if admin_token is None or partner_token is None:
        return
    for line in (f"admin key:   {admin_token}", f"partner key: {partner_token}",
                 f"try: curl -H 'Authorization: Bearer {partner_token}' {url}/v1/products"):
        out.print(line, soft_wrap=True, markup=False, highlight=False)


def _seed_demo(db: Optional[str], businesses: int, days: int, risk: dict | None = None) -> None:
    from datetime import timedelta

    from puhui.services.clock import ManualClock, at_business_date, business_date, SystemClock
    from puhui.services.database import application_count
    from puhui.services.platform_simulation import simulate_platform

    today = business_date(SystemClock())
    sim = _platform(db, risk, clock=ManualClock(at_business_date(today - timedelta(days=days - 1))))
    existing = application_count(sim)
    if existing:
        console.print(f"demo book present ({existing} applications); not seeding again")
        return
    with Progress(console=console) as progress:
        task = progress.add_task(f"Seeding {businesses} businesses over {days} days", total=days - 1)
        result = simulate_platform(sim, businesses, days - 1, today - timedelta(days=days - 1),
                                   progress=lambda n: progress.advance(task, n))
    console.print(f"demo book: {dict(result.funnel)}; {len(result.loan_ids)} loans; "
                  f"{len(result.line_ids)} credit lines ({result.line_changes} changes on fresh "
                  f"data); {result.cases_open} collection cases open")
    from puhui.services import warnings as early_warning
    from puhui.services.access import SYSTEM

    with sim.unit() as session:  # today's watch list, so the demo shows one (docs/warnings.md)
        watched = early_warning.assess_book(sim, session, SYSTEM)
    console.print(f"early warning on {watched['as_of']}: {watched['statuses']}")
    sim.close()


@app.command()
def simulate(businesses: int = typer.Option(150, help="small businesses that apply"),
             days: int = typer.Option(180, help="days from the first application"),
             start: str = typer.Option("2026-01-05", help="first day (YYYY-MM-DD)"),
             seed: int = typer.Option(7),
             db: Optional[str] = typer.Option(None, help="database URL"),
             fresh: bool = typer.Option(True, help="start from an empty SQLite file"),
             decider: str = typer.Option("risk", help=DECIDER_HELP),
             models: Path = typer.Option(RISK["models"], help="model registry directory"),
             policies: Path = typer.Option(RISK["policies"], help="policy registry directory"),
             ) -> None:
    """Run a synthetic book of small businesses through application, decision, disbursement
    and months of repayments (late payers, defaults), then print the portfolio report."""
    from puhui.report import portfolio_report, render
    from puhui.services.clock import ManualClock, at_business_date
    from puhui.services.database import database_url, discard_sqlite_file
    from puhui.services.platform_simulation import simulate_platform

    url = db or database_url()
    if fresh:
        discard_sqlite_file(url)
    first = _date(start)
    platform = _platform(url, _risk_options(decider, models, policies),
                         clock=ManualClock(at_business_date(first)))
    with Progress(console=console) as progress:
        task = progress.add_task(f"{businesses} businesses, {days} days", total=days)
        result = simulate_platform(platform, businesses, days, first, seed,
                                   progress=lambda n: progress.advance(task, n))
    book = platform.book
    console.print(f"Applications: {dict(result.funnel)}")
    console.print(f"Borrower behaviour: {dict(result.behaviours)}; auto-debits collected "
                  f"{result.collected / 100:,.2f} CNY, {result.failed_debits} failed; "
                  f"{result.written_off} loans written off; collections: "
                  f"{result.cases_opened} cases opened, {result.cases_open} open; credit lines: "
                  f"{len(result.line_ids)}, {result.line_changes} changes on fresh data")
    accounts = [book.load(loan_id) for loan_id in result.loan_ids]
    render(portfolio_report(accounts, result.end - timedelta(days=1), book.balances(),
                            book.trial_balance(), book.verify_ledger()))
    for loan_id, failure in result.eod_failures.items():
        console.print(f"[red]end of day failed for {loan_id}: {failure}[/red]")
    if any(book.trial_balance().values()) or result.eod_failures:
        raise typer.Exit(1)


@app.command()
def apply(product: str = typer.Option("SME-EI-12", help="product code"),
          amount: int = typer.Option(10_000_000, help="requested principal in fen"),
          applicant_file: Optional[Path] = typer.Option(
              None, "--applicant", help="JSON file with the applicant (default: a synthetic one)"),
          seed: int = typer.Option(1, help="seed for the synthetic applicant"),
          db: Optional[str] = typer.Option(None, help="database URL"),
          decider: str = typer.Option("risk", help=DECIDER_HELP),
          models: Path = typer.Option(RISK["models"], help="model registry directory"),
          policies: Path = typer.Option(RISK["policies"], help="policy registry directory"),
          ) -> None:
    """Apply for a loan from the command line: register, consent (identity and every business
    data source), decide, and show the offer."""
    import random

    from puhui.parties.consent import DataScope
    from puhui.parties.applicant import Applicant
    from puhui.parties.synthetic import small_business
    from puhui.services import applicants, applications
    from puhui.services.access import SYSTEM
    from puhui.services.clock import business_date

    platform = _platform(db, _risk_options(decider, models, policies))
    try:
        if applicant_file:
            business = Applicant.from_dict(json.loads(applicant_file.read_text(encoding="utf-8")))
        else:
            business = small_business(random.Random(seed), business_date(platform.clock))
        with platform.unit() as session:
            registered = applicants.register_applicant(platform, session, SYSTEM, business)
            applicants.grant_consent(platform, session, SYSTEM, registered["applicant_id"],
                                     "credit_assessment", [s.value for s in DataScope],
                                     channel="cli")
            row = applications.apply(platform, session, SYSTEM, registered["applicant_id"],
                                     product, amount)
            view = applications.application_view(session, row)
    except (PuhuiError, ValueError, OSError) as exc:
        console.print(f"[red]application refused: {exc}[/red]")
        raise typer.Exit(2)
    console.print(f"{business.business_name}: application {view['application_id']} -> "
                  f"[bold]{view['status']}[/bold]")
    decision = view["decision"] or {}
    if decision:
        console.print(f"  decided under policy {decision['policy_version']}"
                      + (f" with model {decision['model_version']}"
                         if decision.get("model_version") else ""))
    for reason in decision.get("reasons", []):
        console.print(f"  {reason['code']}: {reason['message']}")
    offer = view.get("offer")
    if offer:
        console.print(f"Offer {offer['offer_id']}: {offer['principal'] / 100:,.2f} CNY at "
                      f"{decision['annual_rate']} nominal, APR (IRR, fees included) {offer['apr']}, "
                      f"valid until {offer['expires_at']}")
        table = Table("#", "due", "principal", "interest", "fee", "payment")
        for row in offer["schedule"]:
            table.add_row(str(row["number"]), row["due_date"], *(f"{row[k] / 100:,.2f}" for k in (
                "principal", "interest", "fee", "payment")))
        console.print(table)


@app.command()
def snapshots(rebuild: bool = typer.Option(False, help="write missing or disagreeing snapshots "
                                            "again from the history"),
              db: Optional[str] = typer.Option(None)) -> None:
    """Rebuild every loan from its events and the daily closes and check its stored snapshot
    and due position agree (snapshots are derived data; `--rebuild` writes them again)."""
    book, _ = _existing_book(db)
    try:
        total = book.loan_count()
        with Progress(console=console) as progress:
            task = progress.add_task("Replaying loans", total=total)
            check = book.verify_snapshots(rebuild=rebuild,
                                          progress=lambda n: progress.advance(task, n))
    finally:
        book.close()
    console.print(f"{check.loans} loans replayed: {len(check.missing)} without a snapshot, "
                  f"{len(check.disagreeing)} disagreeing with their history"
                  + (f"; {check.rebuilt} rebuilt" if rebuild else ""))
    for loan_id in check.disagreeing[:20]:
        console.print(f"[red]{loan_id}: snapshot disagrees with its history[/red]")
    if check.disagreeing and not rebuild:
        raise typer.Exit(1)


# -- the daily jobs (puhui/cli/scheduler.py) --------------------------------------------------
from puhui.cli.scheduler import scheduler_app  # noqa: E402

app.add_typer(scheduler_app, name="scheduler")


if __name__ == "__main__":
    app()
