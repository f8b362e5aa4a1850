"""`puhui portfolio`: roll rates, vintages, NPL ratio, expected loss, and the month-end loan-loss
provision posted to the ledger (docs/portfolio.md)."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from puhui.cli.common import _as_operator, console

portfolio_app = typer.Typer(help="Portfolio risk and the month-end loan-loss provision.",
                            no_args_is_help=True)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


@portfolio_app.command("report")
def portfolio_report(month: Optional[str] = typer.Option(
                         None, help="YYYY-MM (default: the last month that has ended)"),
                     as_json: bool = typer.Option(False, "--json", help="print JSON"),
                     db: Optional[str] = typer.Option(None)) -> None:
    """Roll rates into the month, DPD30+ vintages, NPL ratio, expected loss and provisions."""
    from puhui.services import portfolio

    report = _as_operator(db, lambda p, s, a: portfolio.report(p, s, a, month))
    if as_json:
        console.print_json(json.dumps(report))
        return
    npl = report["npl"]
    console.print(f"Portfolio at {report['month_end']}: {report['loans']} active loan(s), "
                  f"principal {npl['total_principal']} fen, NPL ratio {_pct(npl['npl_ratio'])}, "
                  f"expected loss {report['expected_loss']['total']} fen on EAD "
                  f"{report['expected_loss']['ead']} fen")
    matrix = report["roll_rate_matrix"]
    columns = list(next(iter(matrix.values())))
    table = Table("from \\ to", *columns, title="Roll rates (share of loans) from the month before")
    for start, row in matrix.items():
        table.add_row(start, *(_pct(row[c]) if row[c] else "-" for c in columns))
    console.print(table)
    provision = report["provision"]
    table = Table("class", "loans", "base (fen)", "rate", "provision (fen)",
                  title=f"Loan-loss provision required ({provision['settings']['version']})")
    for c in provision["by_class"]:
        table.add_row(c["risk_class"], str(c["loans"]), str(c["base"]), c["rate"],
                      str(c["provision"]))
    console.print(table)
    posted = provision["posted"]
    console.print(f"required {provision['required']} fen; " + (
        f"posted {posted['required']} fen (entry {posted['entry_seq']})" if posted
        else "not posted for this month yet (puhui portfolio provision --month ...)"))
    table = Table("cohort", "months on book", "loans", "30+ DPD", "cumulative rate",
                  title="Vintages: cumulative share reaching 30+ days past due")
    for v in report["vintage"]:
        table.add_row(v["cohort"][:7], str(v["months_on_book"]), str(v["loans"]),
                      str(v["defaults"]), _pct(v["cumulative_default_rate"]))
    console.print(table)


@portfolio_app.command("provision")
def portfolio_provision(month: str = typer.Option(..., help="YYYY-MM: a month that has ended"),
                        db: Optional[str] = typer.Option(None)) -> None:
    """Post the month's loan-loss provision (once; only the change since the month before)."""
    from puhui.services import portfolio

    v = _as_operator(db, lambda p, s, a: portfolio.post_provision(p, s, a, month))
    if v["already_posted"]:
        console.print(f"{v['month']} was already provisioned: allowance {v['required']} fen "
                      f"(entry {v['entry_seq']}); nothing posted")
        return
    what = ("no entry (no change)" if v["entry_seq"] is None
            else f"entry {v['entry_seq']}: {v['delta']:+d} fen")
    console.print(f"{v['month']}: allowance {v['previous']} -> {v['required']} fen, {what}")
