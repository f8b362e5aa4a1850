"""`puhui lines`: credit lines (授信额度): list, show, grant, draw, and staff changes."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Optional

import typer
from rich.table import Table

from puhui.cli.common import _as_operator, _date, console

lines_app = typer.Typer(help="Credit lines: a limit granted on a signed contract, drawn down as "
                             "loans (docs/lines.md).", no_args_is_help=True)

KEY_HELP = "idempotency key: the same key again changes nothing"


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _show(view: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(view, default=str))
        return
    console.print(f"[bold]{view['line_id']}[/bold] {view['status']}  product {view['product_code']}"
                  f"  limit {_yuan(view['limit'])}  drawn {_yuan(view['drawn'])}  available "
                  f"[bold]{_yuan(view['available'])}[/bold] {view['currency']}  rate "
                  f"{view['annual_rate']}  {view['opened_on']} .. {view['expires_on']}")
    if view.get("loans"):
        table = Table("loan", "principal unrepaid", "status")
        for loan in view["loans"]:
            table.add_row(loan["loan_id"], _yuan(loan["principal_unrepaid"]), loan["status"])
        console.print(table)
    if view.get("events"):
        table = Table("seq", "on", "event", "amount", "limit", "drawn", "rate", "status", "reason")
        for e in view["events"]:
            table.add_row(str(e["seq"]), e["on"], e["kind"], _yuan(e["amount"]),
                          _yuan(e["limit"]), _yuan(e["drawn"]), e["annual_rate"], e["status"],
                          e["reason"])
        console.print(table)


@lines_app.command("list")
def lines_list(status: Optional[str] = typer.Option(None, help="active, frozen, expired, closed"),
               limit: int = typer.Option(50, min=1, max=1000),
               db: Optional[str] = typer.Option(None)) -> None:
    """Credit lines with their limit, drawn and available amounts."""
    from puhui.services import lines

    items = _as_operator(db, lambda p, s, a: lines.list_lines(p, s, a, None, limit, status))
    table = Table("line", "applicant", "product", "status", "limit", "drawn", "available",
                  "rate", "expires")
    for x in items:
        table.add_row(x["line_id"], x["applicant_id"], x["product_code"], x["status"],
                      _yuan(x["limit"]), _yuan(x["drawn"]), _yuan(x["available"]),
                      x["annual_rate"], x["expires_on"])
    console.print(table)


@lines_app.command("show")
def lines_show(line_id: str, as_json: bool = typer.Option(False, "--json"),
               db: Optional[str] = typer.Option(None)) -> None:
    """A line, the loans drawn under it and its events."""
    from puhui.services import lines

    _show(_as_operator(db, lambda p, s, a: lines.get_line(p, s, a, line_id)), as_json)


@lines_app.command("grant")
def lines_grant(contract_id: str,
                expires_on: Optional[str] = typer.Option(None, help="YYYY-MM-DD"),
                db: Optional[str] = typer.Option(None)) -> None:
    """Grant the line a signed contract describes, instead of paying the contract out."""
    from puhui.services import lines

    day = _date(expires_on) if expires_on else None
    _show(_as_operator(db, lambda p, s, a: lines.grant(p, s, a, contract_id,
                                                       key=f"grant:{contract_id}",
                                                       expires_on=day)), False)


@lines_app.command("draw")
def lines_draw(line_id: str, amount: int = typer.Argument(..., help="fen"),
               key: str = typer.Option(..., help=KEY_HELP),
               as_json: bool = typer.Option(False, "--json"),
               db: Optional[str] = typer.Option(None)) -> None:
    """Draw `amount` fen under the line as a new loan, paid to the bound account."""
    from puhui.services import lines

    out = _as_operator(db, lambda p, s, a: lines.draw(p, s, a, line_id, amount, key=key))
    if as_json:
        console.print_json(json.dumps(out, default=str))
        return
    console.print(f"loan {out['loan_id']}: {_yuan(out['principal'])} drawn, "
                  f"{_yuan(out['net_disbursed'])} paid out, APR {out['apr']}"
                  + (" (replayed)" if out["replayed"] else ""))
    _show(out["line"], False)


def _change(line_id: str, key: str, reason: str, db: Optional[str], **change) -> None:
    from puhui.services import lines

    out = _as_operator(db, lambda p, s, a: lines.change_line(p, s, a, line_id, key=key,
                                                             reason=reason, **change))
    done = ", ".join(e["kind"] for e in out["changes"]) or "nothing to change"
    console.print(f"{line_id}: {done}" + (" (replayed)" if out["replayed"] else ""))
    _show(out, False)


@lines_app.command("freeze")
def lines_freeze(line_id: str, reason: str = typer.Option(...),
                 key: str = typer.Option(..., help=KEY_HELP),
                 db: Optional[str] = typer.Option(None)) -> None:
    """Freeze a line: nothing more can be drawn until it is unfrozen."""
    _change(line_id, key, reason, db, freeze=True)


@lines_app.command("unfreeze")
def lines_unfreeze(line_id: str, reason: str = typer.Option(...),
                   key: str = typer.Option(..., help=KEY_HELP),
                   db: Optional[str] = typer.Option(None)) -> None:
    """Unfreeze a frozen line (not an expired or closed one)."""
    _change(line_id, key, reason, db, freeze=False)


@lines_app.command("limit")
def lines_limit(line_id: str, limit: int = typer.Argument(..., help="new limit, fen"),
                reason: str = typer.Option(...), key: str = typer.Option(..., help=KEY_HELP),
                db: Optional[str] = typer.Option(None)) -> None:
    """Set a line's limit."""
    _change(line_id, key, reason, db, limit=limit)


@lines_app.command("price")
def lines_price(line_id: str, annual_rate: str = typer.Argument(..., help="e.g. 0.126"),
                reason: str = typer.Option(...), key: str = typer.Option(..., help=KEY_HELP),
                db: Optional[str] = typer.Option(None)) -> None:
    """Set a line's annual rate for future draws (within the rate cap in force)."""
    try:
        rate = Decimal(annual_rate)
    except InvalidOperation:
        raise typer.BadParameter(f"{annual_rate!r} is not a rate (e.g. 0.126)") from None
    _change(line_id, key, reason, db, annual_rate=rate)


@lines_app.command("close")
def lines_close(line_id: str, reason: str = typer.Option(...),
                key: str = typer.Option(..., help=KEY_HELP),
                db: Optional[str] = typer.Option(None)) -> None:
    """Close a line for good; the loans under it run on."""
    _change(line_id, key, reason, db, close=True)
