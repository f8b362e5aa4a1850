"""`puhui` command line: run the demo book, close days, inspect loans, verify the ledger."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from typer.core import TyperGroup

from puhui.cli.policy import policy_app
from puhui.errors import PuhuiError
from puhui.cli.train import train_app
from puhui.cli.risk import risk_app

#: Exit status of a command stopped by a deployment fault (a personal-data key missing or a
#: sealed value failing its integrity check); 1 is a failed run, 2 a refused request.
EXIT_KEY_FAULT = 3


class _PuhuiGroup(TyperGroup):
    """The top-level group: a personal-data key fault from any command is a one-line message
    naming the key id (never key material) and exit `EXIT_KEY_FAULT`, not a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from puhui.store.crypto import KeyMissing, KeyringError, SealBroken

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
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
loans_app = typer.Typer(help="Loans in the book.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for partners and staff.", no_args_is_help=True)
privacy_app = typer.Typer(help="Personal data: export, erasure, key rotation, purge.",
                          no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(loans_app, name="loans")
app.add_typer(keys_app, name="keys")
caps_app = typer.Typer(help="The rate cap on annualised cost: a fixed rate or a multiple of the "
                            "one-year LPR, versioned by effective date.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
app.add_typer(caps_app, name="caps")
app.add_typer(train_app, name="train")
app.add_typer(risk_app, name="risk")
app.add_typer(policy_app, name="policy")
console = Console()


def _book(url: Optional[str]):
    from puhui.book import LoanBook
    from puhui.store.db import database_url, make_engine, migrate

    url = url or database_url()
    migrate(url)
    return LoanBook(make_engine(url)), url


def _existing(url: Optional[str]) -> str:
    """The URL of an existing Puhui database, or exit 2 saying why: a command that reads a book
    (or acts on its loans) never creates one."""
    from puhui.store.db import require_existing

    try:
        return require_existing(url)
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)


def _existing_book(url: Optional[str]):
    """`_book` for a database that must already exist (see `_existing`)."""
    return _book(_existing(url))


@app.command()
def run(loans: int = typer.Option(200, help="loans in the synthetic book"),
        days: int = typer.Option(240, help="days of servicing to simulate"),
        db: Optional[str] = typer.Option(None, help="database URL (default: PUHUI_DATABASE_URL or SQLite)"),
        fresh: bool = typer.Option(True, help="start from an empty SQLite file"),
        seed: int = typer.Option(7)) -> None:
    """The main job: originate a synthetic book, service it day by day, report and verify."""
    from sqlalchemy.engine import make_url

    from puhui.report import portfolio_report, render
    from puhui.book_simulation import simulate
    from puhui.store.db import database_url

    url = db or database_url()
    if fresh and make_url(url).get_backend_name() == "sqlite" and make_url(url).database:
        Path(make_url(url).database).unlink(missing_ok=True)
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
        total = len(platform.book.loan_ids())
        with Progress(console=console) as progress:
            task = progress.add_task(f"End of day {day}", total=total)
            closed = close_day(platform, SYSTEM, day,
                               progress=lambda n: progress.advance(task, n))
    finally:
        platform.close()
    report = closed.report
    if len(report.days) > 1:
        console.print(f"closed the skipped days {report.days[0]} to {report.days[-2]} first")
    console.print(f"{report.loans} loans closed for {day}; {report.entries} journal entries posted")
    console.print(f"{len(closed.unconsented_erased)} registration(s) without consent erased")
    for loan_id, failure in report.failures.items():
        console.print(f"[red]{loan_id}: {failure}[/red]")
    if report.failures:
        raise typer.Exit(1)


@ledger_app.command("verify")
def ledger_verify(db: Optional[str] = typer.Option(None),
                  against: Optional[Path] = typer.Option(
                      None, "--against", help="a signed checkpoint the book must still hold"),
                  public_key: Optional[Path] = typer.Option(
                      None, "--public-key", envvar="PUHUI_CHECKPOINT_PUBLIC_KEY",
                      help="the checkpoint signer's Ed25519 public key (PEM)")) -> None:
    """Check every journal entry's and loan event's hash link, the entries' balance and the trial
    balance; with --against, also that nothing the checkpoint signed was cut off or rewritten."""
    from puhui.errors import CheckpointError
    from puhui.services import checkpoints

    try:
        checkpoint = None if against is None else checkpoints.read_checkpoint(against)
        key = None if public_key is None else checkpoints.load_public_key(public_key)
        if checkpoint is not None and key is None:
            raise CheckpointError("--against needs the signer's --public-key (or "
                                  "PUHUI_CHECKPOINT_PUBLIC_KEY)")
    except CheckpointError as exc:
        console.print(f"[red]checkpoint refused: {exc}[/red]")
        raise typer.Exit(2)
    book, _ = _existing_book(db)
    try:
        verified = book.verify(checkpoint, key)
    except CheckpointError as exc:
        console.print(f"[red]checkpoint refused: {exc}[/red]")
        raise typer.Exit(2)
    except PuhuiError as exc:
        console.print(f"[red]ledger verification FAILED: {exc}[/red]")
        raise typer.Exit(1)
    trial = book.trial_balance()
    ok = all(v == 0 for v in trial.values())
    console.print(f"{verified.journal.seq} entries and {verified.events.seq} loan events "
                  f"verified; trial balance {trial} {'balanced' if ok else 'OUT OF BALANCE'}")
    console.print(f"journal head {verified.journal.seq} {verified.journal.hash}")
    console.print(f"event head {verified.events.seq} {verified.events.hash}")
    if checkpoint is not None:
        console.print(f"holds checkpoint of {checkpoint.statement()['time']} (journal "
                      f"{checkpoint.journal.seq}, events {checkpoint.events.seq}, key "
                      f"{checkpoint.key_id})")
    if not ok:
        raise typer.Exit(1)


@ledger_app.command("keygen")
def ledger_keygen(out: Path = typer.Option(..., "--out", help="private key file to create; the "
                                                               "public key goes to OUT.pub")) -> None:
    """Create an Ed25519 key pair for signing checkpoints (private key mode 0600)."""
    from puhui.errors import CheckpointError
    from puhui.services import checkpoints

    public = out.with_name(out.name + ".pub")
    try:
        key_id = checkpoints.generate_key_files(out, public)
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    console.print(f"key {key_id}: private key {out} (keep it secret), public key {public}")


@ledger_app.command("checkpoint")
def ledger_checkpoint(key: Path = typer.Option(..., "--key", help="Ed25519 private key (PEM)"),
                      out: Path = typer.Option(..., "--out", help="checkpoint file to create"),
                      db: Optional[str] = typer.Option(None)) -> None:
    """Verify the book, then write a checkpoint of its journal and event heads signed with KEY:
    keep it away from the database, and `ledger verify --against` it later."""
    from puhui.calendar import utcnow
    from puhui.errors import CheckpointError
    from puhui.services import checkpoints

    try:
        private = checkpoints.load_private_key(key)
        if out.exists():
            raise CheckpointError(f"{out} exists; checkpoints are never overwritten")
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    book, _ = _book(db)
    try:
        signed = book.checkpoint(private, utcnow())
        checkpoints.write_checkpoint(signed, out)
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    except PuhuiError as exc:
        console.print(f"[red]ledger verification FAILED, nothing signed: {exc}[/red]")
        raise typer.Exit(1)
    console.print(f"checkpoint {out}: journal {signed.journal.seq} {signed.journal.hash}, "
                  f"events {signed.events.seq} {signed.events.hash}, key {signed.key_id}")


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
    ledger = {code: amt for (code, _), amt in book.balances(loan_id).items()
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


DECIDER_HELP = ("'risk': data from the (synthetic) providers under consent, the registered "
                "small-business models (trained on first use) and the active policy; 'default': "
                "the simple documented policy on the application alone")
RISK = {"decider": "risk", "models": Path("var/models"), "policies": Path("var/policies")}


def _platform(db: Optional[str], risk: dict | None = None, **parts):
    """The platform, deciding with the risk engine unless `risk["decider"]` is 'default'."""
    from puhui.services.risk import DECIDERS, open_platform

    risk = risk or {"decider": "default"}
    if risk["decider"] not in DECIDERS:
        console.print(f"[red]--decider must be 'risk' or 'default', not {risk['decider']!r}[/red]")
        raise typer.Exit(2)
    return open_platform(db, risk["decider"], models_root=risk.get("models", RISK["models"]),
                         policies_root=risk.get("policies", RISK["policies"]),
                         progress=console.print, **parts)


def _risk_options(decider: str, models: Path, policies: Path) -> dict:
    return {"decider": decider, "models": models, "policies": policies}


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
          ) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from puhui.api import create_app
    from puhui.services import access

    risk = _risk_options(decider, models, policies)
    platform = _platform(db, risk)
    if demo:
        _seed_demo(db, businesses, days, risk)
    with platform.unit() as session:
        admin = access.issue_key(session, "demo admin", "admin") if demo else None
        partner = access.issue_key(session, "demo partner", "partner", "P-DEMO") if demo else None
    url = f"http://{host}:{port}"
    _print_serving(console, url, admin.token if admin else None, partner.token if partner else None)
    if workers == 1:
        uvicorn.run(create_app(platform), host=host, port=port, log_level="warning")
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

    from sqlalchemy import func, select

    from puhui.services.clock import ManualClock, at_business_date, business_date, SystemClock
    from puhui.services.platform_simulation import simulate_platform
    from puhui.store.platform_models import ApplicationRow

    today = business_date(SystemClock())
    sim = _platform(db, risk, clock=ManualClock(at_business_date(today - timedelta(days=days - 1))))
    with sim.read() as session:
        existing = session.execute(select(func.count()).select_from(ApplicationRow)).scalar_one()
    if existing:
        console.print(f"demo book present ({existing} applications); not seeding again")
        return
    with Progress(console=console) as progress:
        task = progress.add_task(f"Seeding {businesses} businesses over {days} days", total=days - 1)
        result = simulate_platform(sim, businesses, days - 1, today - timedelta(days=days - 1),
                                   progress=lambda n: progress.advance(task, n))
    console.print(f"demo book: {dict(result.funnel)}; {len(result.loan_ids)} loans")
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
    from sqlalchemy.engine import make_url

    from puhui.report import portfolio_report, render
    from puhui.services.clock import ManualClock, at_business_date
    from puhui.services.platform_simulation import simulate_platform
    from puhui.store.db import database_url

    url = db or database_url()
    if fresh and make_url(url).get_backend_name() == "sqlite" and make_url(url).database:
        for suffix in ("", "-wal", "-shm"):
            Path(make_url(url).database + suffix).unlink(missing_ok=True)
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
                  f"{result.written_off} loans written off")
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


@keys_app.command("issue")
def keys_issue(name: str = typer.Argument(...), role: str = typer.Option(..., help="borrower, partner, credit_officer or admin"),
               subject: Optional[str] = typer.Option(None, help="partner id or applicant id"),
               scope: Optional[list[str]] = typer.Option(
                   None, "--scope", help="a permission (repeat); default: the role's, "
                                         "without read_personal, which must be named"),
               db: Optional[str] = typer.Option(None)) -> None:
    """Issue an API key; the token is printed once."""
    from puhui.services import access

    platform = _platform(db)
    try:
        with platform.unit() as session:
            key = access.issue_key(session, name, role, subject, scope or None)
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    console.print(f"{key.key_id} ({key.role.value}): {key.token}")


def _as_operator(db: Optional[str], work):
    """Run `work(platform, session, actor)` as the system operator (logged as "system") on an
    existing book (a mistyped path is refused, never created: see `_existing`); a refused
    request exits 2 with the reason."""
    from puhui.services.access import SYSTEM

    platform = _platform(_existing(db))
    try:
        with platform.unit() as session:
            return work(platform, session, SYSTEM)
    except PuhuiError as exc:
        console.print(f"[red]refused: {exc}[/red]")
        raise typer.Exit(2)
    finally:
        platform.close()


@privacy_app.command("export")
def privacy_export(applicant_id: str = typer.Argument(...),
                   reason: str = typer.Option(..., help="why (kept in the access log)"),
                   out: Optional[Path] = typer.Option(None, help="write the JSON here"),
                   db: Optional[str] = typer.Option(None)) -> None:
    """Everything held on an applicant, as JSON (logged)."""
    from puhui.services import privacy

    data = _as_operator(db, lambda p, s, actor: privacy.export(p, s, actor, applicant_id, reason))
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if out is None:
        print(text)
    else:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        console.print(f"written to {out}")


@privacy_app.command("erase")
def privacy_erase(applicant_id: str = typer.Argument(...),
                  reason: str = typer.Option(..., help="why (kept in the access log)"),
                  db: Optional[str] = typer.Option(None)) -> None:
    """Erase an applicant's personal data (refused while a contract needs it)."""
    from puhui.services import privacy

    result = _as_operator(db, lambda p, s, actor: privacy.erase(p, s, actor, applicant_id, reason))
    console.print(json.dumps(result, ensure_ascii=False))


@privacy_app.command("purge-unconsented")
def privacy_purge(days: int = typer.Option(30, min=1, help="retention without consent, days"),
                  db: Optional[str] = typer.Option(None)) -> None:
    """Erase registrations that received no consent within `days`."""
    from puhui.services import privacy

    ids = _as_operator(db, lambda p, s, actor: privacy.purge_unconsented(
        p, s, actor, timedelta(days=days)))
    console.print(f"erased {len(ids)} registration(s) without consent: {', '.join(ids)}")


@privacy_app.command("rotate")
def privacy_rotate(new_key: bool = typer.Option(
        True, help="make a new master key active (--no-new-key: re-wrap under the active key, "
                   "e.g. after PUHUI_DATA_KEYS changed)"),
        db: Optional[str] = typer.Option(None)) -> None:
    """Rotate the master key: re-wrap every data key and seal rows from before encryption."""
    from puhui.services.privacy import rotate_keys

    platform = _platform(_existing(db))
    try:
        report = rotate_keys(platform.engine, new_master=new_key)
    finally:
        platform.close()
    console.print(json.dumps(report))


@caps_app.command("show")
def caps_show(on: Optional[str] = typer.Option(None, help="YYYY-MM-DD (default: today)"),
              db: Optional[str] = typer.Option(None)) -> None:
    """The cap in force, the products it stops being offered, and the setting's history."""
    from puhui.services import caps

    day = _date(on) if on else None
    view = _as_operator(db, lambda p, s, a: caps.show(p, s, a, day))
    cap = view["in_force"]
    if cap is None:
        console.print(f"[red]no rate cap in force on {view['on']}: {view['problem']}[/red]")
    else:
        source = cap["provenance"] or {}
        console.print(f"Rate cap on {view['on']}: [bold]{cap['annual_limit']}[/bold] "
                      f"({cap['label']}), version {source.get('version')}"
                      + (f", LPR {source['lpr_rate']} published {source['lpr_published_on']}"
                         if source.get("lpr_rate") else ""))
    for code, why in view["products_not_offered"].items():
        console.print(f"[yellow]{why}[/yellow]")
    table = Table("version", "effective from", "kind", "rate", "multiple", "label", "recorded by")
    for v in view["versions"]:
        table.add_row(str(v["version"]), v["effective_from"], v["kind"], v["rate"] or "",
                      v["multiple"] or "", v["label"], v["recorded_by"])
    console.print(table)
    if view["lpr_publications"]:
        table = Table("LPR", "rate", "published on", "effective from", "recorded by")
        for x in view["lpr_publications"]:
            table.add_row(str(x["id"]), x["rate"], x["published_on"], x["effective_from"],
                          x["recorded_by"])
        console.print(table)


@caps_app.command("set-fixed")
def caps_set_fixed(rate: str = typer.Argument(..., help="the cap as a fraction, e.g. 0.24"),
                   effective_from: str = typer.Option(..., help="YYYY-MM-DD, today or later"),
                   label: str = typer.Option(""), note: str = typer.Option("", help="why"),
                   db: Optional[str] = typer.Option(None)) -> None:
    """Record a fixed cap taking effect on a date."""
    from puhui.services import caps

    day = _date(effective_from)
    v = _as_operator(db, lambda p, s, a: caps.set_cap(p, s, a, "fixed", day, rate=rate,
                                                      label=label, note=note))
    console.print(f"cap version {v['version']}: {v['label']} from {v['effective_from']}")


@caps_app.command("set-lpr-multiple")
def caps_set_lpr_multiple(multiple: str = typer.Argument(..., help="e.g. 4"),
                          effective_from: str = typer.Option(..., help="YYYY-MM-DD, today or later"),
                          label: str = typer.Option(""), note: str = typer.Option("", help="why"),
                          db: Optional[str] = typer.Option(None)) -> None:
    """Record a cap of a multiple of the one-year LPR in force, taking effect on a date."""
    from puhui.services import caps

    day = _date(effective_from)
    v = _as_operator(db, lambda p, s, a: caps.set_cap(p, s, a, "lpr_multiple", day,
                                                      multiple=multiple, label=label, note=note))
    console.print(f"cap version {v['version']}: {v['label']} from {v['effective_from']}")


@caps_app.command("record-lpr")
def caps_record_lpr(rate: str = typer.Argument(..., help="the one-year LPR, e.g. 0.0300"),
                    published_on: str = typer.Option(..., help="YYYY-MM-DD"),
                    effective_from: Optional[str] = typer.Option(
                        None, help="YYYY-MM-DD (default: the publication date, or today)"),
                    db: Optional[str] = typer.Option(None)) -> None:
    """Record a one-year LPR as published."""
    from puhui.services import caps

    published, start = _date(published_on), _date(effective_from) if effective_from else None
    x = _as_operator(db, lambda p, s, a: caps.add_lpr(p, s, a, rate, published, start))
    console.print(f"LPR {x['id']}: {x['rate']} published {x['published_on']}, "
                  f"in effect from {x['effective_from']}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


if __name__ == "__main__":
    app()
