"""`puhui servicing`: staff servicing with maker-checker from the command line.

Each command acts as the person whose API key it is given (`--api-key` or PUHUI_API_KEY): the
maker asks with theirs, the checker approves with their own, exactly as through the API
(docs/servicing.md)."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, List, Optional

import typer
from rich.table import Table

from puhui.cli.common import _existing, _platform, console
from puhui.errors import PuhuiError

servicing_app = typer.Typer(help="Staff servicing with maker-checker: reschedule, extend, waive, "
                                 "refund, reverse a payment, write off, recover, freeze.",
                            no_args_is_help=True)

API_KEY = typer.Option(..., "--api-key", envvar="PUHUI_API_KEY",
                       help="your API key (officer or admin): the maker or the checker")
DB = typer.Option(None, "--db", help="database URL (default: the configured one)")
_INT = re.compile(r"-?\d+")


def _value(text: str) -> Any:
    """A parameter's value: whole numbers as integers (amounts in fen, periods), true/false as
    booleans, anything else as text (rates stay decimal strings, never floats)."""
    if _INT.fullmatch(text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_params(pairs: List[str]) -> dict[str, Any]:
    """`name=value` pairs as the operation's parameters."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not name=value")
        out[name] = _value(value)
    return out


def _as_key(db: Optional[str], token: str, work: Callable[..., Any]) -> Any:
    """Run `work(platform, session, actor)` as the holder of `token`, in one transaction; a
    refusal exits 2 with the reason."""
    from puhui.services.access import authenticate

    platform = _platform(_existing(db))
    try:
        with platform.unit() as session:
            actor = authenticate(session, token)
            return work(platform, session, actor)
    except PuhuiError as exc:
        console.print(f"[red]refused: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(2)
    finally:
        platform.close()


def _show(view: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(view))
        return
    colour = {"applied": "green", "pending": "yellow"}.get(view["status"], "red")
    console.print(f"{view['request_id']} {view['operation']} on {view['loan_id']}: "
                  f"[{colour}]{view['status']}[/{colour}] (amount {view['amount']} "
                  f"{view['currency']}, maker {view['maker']}"
                  + (f", checker {view['checker']}" if view["checker"] else "") + ")")
    if view["note"]:
        console.print(f"  note: {view['note']}")
    if view["result"]:
        console.print(f"  result: {json.dumps(view['result'])}")


@servicing_app.command("request")
def request(loan_id: str = typer.Argument(..., help="the loan"),
            operation: str = typer.Argument(..., help="reschedule, extend, waive, refund, "
                                            "reverse_payment, write_off, recovery, freeze, "
                                            "unfreeze"),
            reason: str = typer.Option(..., help="why (kept with the request)"),
            param: List[str] = typer.Option([], "--param", "-p",
                                            help="name=value, repeated: e.g. charge=penalty "
                                                 "amount=30000, periods=12 annual_rate=0.10"),
            key: str = typer.Option(..., help="your idempotency key for this request"),
            api_key: str = API_KEY, db: Optional[str] = DB,
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Ask for an operation on a loan; applied at once if the approval rules allow."""
    from puhui.services import servicing

    params = {**parse_params(param), "reason": reason}
    view = _as_key(db, api_key, lambda p, s, a: servicing.request_operation(
        p, s, a, loan_id, operation, params, f"cli:{a.key_id}:{key}"))
    _show(view, as_json)


@servicing_app.command("approve")
def approve(request_id: str = typer.Argument(...),
            key: str = typer.Option(..., help="your idempotency key for this decision"),
            api_key: str = API_KEY, db: Optional[str] = DB,
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Approve another's request: it is applied to the loan now."""
    from puhui.services import servicing

    view = _as_key(db, api_key, lambda p, s, a: servicing.approve(
        p, s, a, request_id, f"cli:{a.key_id}:{key}"))
    _show(view, as_json)


@servicing_app.command("reject")
def reject(request_id: str = typer.Argument(...), note: str = typer.Option(..., help="why"),
           key: str = typer.Option(..., help="your idempotency key for this decision"),
           api_key: str = API_KEY, db: Optional[str] = DB,
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Reject a request; nothing happens to the loan."""
    from puhui.services import servicing

    view = _as_key(db, api_key, lambda p, s, a: servicing.reject(
        p, s, a, request_id, f"cli:{a.key_id}:{key}", note))
    _show(view, as_json)


@servicing_app.command("list")
def list_requests(status: Optional[str] = typer.Option(None, help="pending, applied, rejected, "
                                                       "expired or failed"),
                  loan: Optional[str] = typer.Option(None, help="only this loan's"),
                  limit: int = typer.Option(200, min=1, max=1000),
                  api_key: str = API_KEY, db: Optional[str] = DB,
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Servicing requests, oldest first (--status pending: the checkers' queue)."""
    from puhui.services import servicing

    items = _as_key(db, api_key, lambda p, s, a: servicing.list_requests(
        p, s, a, status=status, loan_id=loan, limit=limit))
    if as_json:
        console.print_json(json.dumps(items))
        return
    table = Table("request", "loan", "operation", "amount", "status", "maker", "checker",
                  "requested at", "reason")
    for v in items:
        table.add_row(v["request_id"], v["loan_id"], v["operation"], str(v["amount"]),
                      v["status"], v["maker"], v["checker"] or "", v["requested_at"],
                      v["reason"])
    console.print(table)
