"""`puhui` command line: run the demo book, close days, inspect loans, verify the ledger."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from puhui.errors import PuhuiError

app = typer.Typer(help="Puhui: digital lending for small and micro businesses.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
loans_app = typer.Typer(help="Loans in the book.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(loans_app, name="loans")
console = Console()


def _book(url: Optional[str]):
    from puhui.book import LoanBook
    from puhui.store.db import database_url, make_engine, migrate

    url = url or database_url()
    migrate(url)
    return LoanBook(make_engine(url)), url


@app.command()
def run(loans: int = typer.Option(200, help="loans in the synthetic book"),
        days: int = typer.Option(240, help="days of servicing to simulate"),
        db: Optional[str] = typer.Option(None, help="database URL (default: PUHUI_DATABASE_URL or SQLite)"),
        fresh: bool = typer.Option(True, help="start from an empty SQLite file"),
        seed: int = typer.Option(7)) -> None:
    """The main job: originate a synthetic book, service it day by day, report and verify."""
    from sqlalchemy.engine import make_url

    from puhui.report import portfolio_report, render
    from puhui.simulation import simulate
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
    """Close a business day for every active loan (accrual, penalty, fees, aging)."""
    day = _date(business_date)
    book, _ = _book(db)
    total = len(book.loan_ids())
    with Progress(console=console) as progress:
        task = progress.add_task(f"End of day {day}", total=total)
        report = book.end_of_day(day, progress=lambda n: progress.advance(task, n))
    console.print(f"{report.loans} loans closed for {day}; {report.entries} journal entries posted")
    for loan_id, failure in report.failures.items():
        console.print(f"[red]{loan_id}: {failure}[/red]")
    if report.failures:
        raise typer.Exit(1)


@ledger_app.command("verify")
def ledger_verify(db: Optional[str] = typer.Option(None)) -> None:
    """Check every entry's hash link and balance, and the trial balance."""
    book, _ = _book(db)
    try:
        count = book.verify_ledger()
    except PuhuiError as exc:
        console.print(f"[red]ledger verification FAILED: {exc}[/red]")
        raise typer.Exit(1)
    trial = book.trial_balance()
    ok = all(v == 0 for v in trial.values())
    console.print(f"{count} entries verified; trial balance {trial} {'balanced' if ok else 'OUT OF BALANCE'}")
    if not ok:
        raise typer.Exit(1)


@loans_app.command("show")
def loans_show(loan_id: str, as_of: Optional[str] = typer.Option(None, help="YYYY-MM-DD"),
               db: Optional[str] = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """A loan's balances, delinquency and schedule, reconciled against its sub-ledger."""
    from puhui.loans.product import Component
    from puhui.loans.servicing import Loan

    book, _ = _book(db)
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

    book, _ = _book(db)
    try:
        wanted = LoanStatus(status) if status else None
    except ValueError:
        console.print(f"[red]unknown status {status!r}; choose from {[s.value for s in LoanStatus]}[/red]")
        raise typer.Exit(2)
    for loan_id in book.loan_ids(wanted):
        console.print(loan_id)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


if __name__ == "__main__":
    app()
