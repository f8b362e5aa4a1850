"""`puhui collections`: the collectors' queue, a case, contact attempts, promises to pay,
restructuring offers, write-off recommendations and the daily review.

Acts are recorded as `cli:<name>` (`--by`, default the login name): the audit trail says who
did what from the command line as it says which API key did it through the API.
"""

from __future__ import annotations

import getpass
import json
from typing import Any, Callable, Optional

import typer
from rich.table import Table

from puhui.cli.common import _date, _existing, _platform, console
from puhui.errors import PuhuiError

collections_app = typer.Typer(help="Collections (催收): queues, cases, contact attempts, "
                                   "promises, restructuring, write-off advice.",
                              no_args_is_help=True)

BY = typer.Option(None, "--by", help="who acts (recorded as cli:<name>; default: login name)")
DB = typer.Option(None, "--db", help="database URL")
JSON = typer.Option(False, "--json", help="print the answer as JSON")


def _as(by: Optional[str], db: Optional[str], work: Callable[..., Any]) -> Any:
    """Run `work(platform, session, actor)` as `cli:<by>` (an admin) in one unit of work; a
    refused act exits 2 with the reason (its refusal audited where the rules say so)."""
    from puhui.services.access import Perm, Principal, Role

    name = by or _login()
    actor = Principal(f"cli:{name}", Role.ADMIN, frozenset(Perm), None)
    platform = _platform(_existing(db))
    try:
        with platform.unit() as session:
            return work(platform, session, actor)
    except PuhuiError as exc:
        console.print(f"[red]refused: {exc}[/red]")
        raise typer.Exit(2)
    finally:
        platform.close()


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in a container: say so in the trail
        return "unknown"


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def _cases_table(cases: list[dict[str, Any]], title: str) -> Table:
    table = Table("case", "loan", "dpd", "bucket", "stage", "overdue (fen)", "priority",
                  "collector", "status", title=title)
    for c in cases:
        table.add_row(c["case_id"], c["loan_id"], str(c["days_past_due"]), c["bucket"],
                      c["stage"]["name"], str(c["amount_overdue"]), str(c["priority"]),
                      c["collector"] or "", c["status"])
    return table


@collections_app.command("queue")
def queue_cmd(collector: Optional[str] = typer.Option(None, help="a collector's cases ('me')"),
              unassigned: bool = typer.Option(False, help="only cases nobody holds"),
              limit: int = typer.Option(50, min=1, max=500),
              by: Optional[str] = BY, db: Optional[str] = DB, as_json: bool = JSON) -> None:
    """Open cases by priority (amount overdue x days past due), highest first."""
    from puhui.services import collections as svc

    cases = _as(by, db, lambda p, s, a: svc.queue(p, s, a, collector, unassigned, limit))
    if as_json:
        _print_json(cases)
    elif not cases:
        console.print("no open cases")
    else:
        console.print(_cases_table(cases, "Collection queue"))


@collections_app.command("case")
def case_cmd(case_id: str = typer.Argument(...),
             assign: Optional[str] = typer.Option(None, help="put the case in this collector's "
                                                             "queue ('me')"),
             audit: bool = typer.Option(False, help="show the audit trail"),
             by: Optional[str] = BY, db: Optional[str] = DB, as_json: bool = JSON) -> None:
    """A case: stage and actions, attempts, promises, offers, write-off advice."""
    from puhui.services import collections as svc

    def work(p: Any, s: Any, a: Any) -> dict[str, Any]:
        if assign:
            svc.assign(p, s, a, case_id, assign)
        view = svc.show_case(p, s, a, case_id)
        if audit:
            view["audit"] = svc.audit_trail(p, s, a, case_id)
        return view

    view = _as(by, db, work)
    if as_json:
        _print_json(view)
        return
    console.print(_cases_table([view], f"Case {case_id}"))
    console.print(f"collector: {view['collector'] or 'none'}")
    console.print(f"actions: {', '.join(view['stage']['actions']) or 'none'}; escalations "
                  f"{view['escalations']}; write-off recommended: "
                  f"{view['write_off']['recommended']}")
    for x in view["attempts"]:
        console.print(f"  attempt {x['attempted_at']} {x['channel']} {x['outcome']} by "
                      f"{x['collector']} {x['note']}")
    for x in view["promises"]:
        console.print(f"  promise {x['amount']} fen by {x['due_on']}: {x['status']} "
                      f"(paid {x['paid']})")
    for x in view["offers"]:
        console.print(f"  offer {x['offer_id']} {x['kind']}: {x['status']}, "
                      f"{x['terms']['periods']} periods, instalment "
                      f"{x['terms']['new_instalment']} fen")
    for e in view.get("audit", []):
        console.print(f"  {e['at']} {e['actor']} {e['action']} {e['outcome']} "
                      f"{json.dumps(e['detail'], ensure_ascii=False)}")


@collections_app.command("attempt")
def attempt_cmd(case_id: str = typer.Argument(...),
                outcome: str = typer.Option(..., help="no_answer, promise_to_pay, "
                                                      "refused_to_pay, wrong_number, paid, ..."),
                channel: str = typer.Option("phone_call"),
                party: str = typer.Option("borrower", help="only the borrower may be contacted"),
                note: str = typer.Option(""),
                promise_amount: Optional[int] = typer.Option(None, help="fen (promise_to_pay)"),
                promise_due: Optional[str] = typer.Option(None, help="YYYY-MM-DD"),
                key: str = typer.Option(..., help="idempotency key: sent again, recorded once"),
                by: Optional[str] = BY, db: Optional[str] = DB) -> None:
    """Record a contact of the borrower made now (refused outside the contact rules)."""
    from puhui.services import collections as svc

    due = _date(promise_due) if promise_due else None
    done = _as(by, db, lambda p, s, a: svc.record_attempt(
        p, s, a, case_id, channel=channel, party=party, outcome=outcome, key=key, note=note,
        promise_amount=promise_amount, promise_due=due))
    console.print(f"attempt {done['attempt_id']}: {done['outcome']} at {done['attempted_at']}"
                  + (f"; promise {done['promise']['promise_id']}" if done["promise"] else ""))


@collections_app.command("promise")
def promise_cmd(case_id: str = typer.Argument(...),
                amount: int = typer.Option(..., help="fen"),
                due: str = typer.Option(..., help="YYYY-MM-DD, today to 30 days ahead"),
                key: str = typer.Option(..., help="idempotency key"),
                by: Optional[str] = BY, db: Optional[str] = DB) -> None:
    """Record a promise to pay `amount` fen by `due`."""
    from puhui.services import collections as svc

    day = _date(due)
    done = _as(by, db, lambda p, s, a: svc.record_promise(p, s, a, case_id, amount=amount,
                                                          due_on=day, key=key))
    console.print(f"promise {done['promise_id']}: {done['amount']} fen by {done['due_on']} "
                  f"({done['status']})")


@collections_app.command("restructure")
def restructure_cmd(target: str = typer.Argument(..., help="a case id (propose) or an offer "
                                                           "id (--accept / --decline)"),
                    kind: Optional[str] = typer.Option(
                        None, help="reschedule, extend or reduce_instalment"),
                    affordable: Optional[int] = typer.Option(
                        None, help="fen the borrower can pay per instalment"),
                    periods: Optional[int] = typer.Option(None, help="reschedule: new term"),
                    extra_periods: Optional[int] = typer.Option(None, help="extend: added"),
                    rate: Optional[str] = typer.Option(None, help="annual rate, e.g. 0.08"),
                    key: Optional[str] = typer.Option(None, help="idempotency key (propose)"),
                    accept: bool = typer.Option(False, help="the borrower accepted the offer"),
                    decline: bool = typer.Option(False, help="the borrower declined it"),
                    by: Optional[str] = BY, db: Optional[str] = DB,
                    as_json: bool = JSON) -> None:
    """Propose restructured terms from a case, or record the borrower's answer to an offer."""
    from puhui.services import collections as svc

    if accept and decline:
        console.print("[red]--accept or --decline, not both[/red]")
        raise typer.Exit(2)
    if accept or decline:
        fn = svc.accept_offer if accept else svc.decline_offer
        offer = _as(by, db, lambda p, s, a: fn(p, s, a, target))
    else:
        if kind is None or affordable is None or key is None:
            console.print("[red]a proposal needs --kind, --affordable and --key[/red]")
            raise typer.Exit(2)
        offer = _as(by, db, lambda p, s, a: svc.propose_restructuring(
            p, s, a, target, kind=kind, affordable_instalment=affordable, key=key,
            periods=periods, extra_periods=extra_periods, annual_rate=rate))
    if as_json:
        _print_json(offer)
        return
    terms = offer["terms"]
    console.print(f"offer {offer['offer_id']} ({offer['kind']}): {offer['status']}; "
                  f"{terms['periods']} instalments at {terms['annual_rate']}, largest "
                  f"{terms['new_instalment']} fen (was {terms['current_instalment']}), APR "
                  f"{terms['apr']}; expires {offer['expires_on']}")


@collections_app.command("writeoffs")
def writeoffs_cmd(by: Optional[str] = BY, db: Optional[str] = DB, as_json: bool = JSON) -> None:
    """Open cases recommended for write-off, with the reasons."""
    from puhui.services import collections as svc

    found = _as(by, db, lambda p, s, a: svc.write_off_recommendations(p, s, a))
    if as_json:
        _print_json(found)
        return
    if not found:
        console.print("no case is recommended for write-off")
        return
    for c in found:
        console.print(f"{c['case_id']} {c['loan_id']}: {'; '.join(c['write_off']['reasons'])}")


@collections_app.command("run")
def run_cmd(day: Optional[str] = typer.Argument(None, help="YYYY-MM-DD (default: today)"),
            by: Optional[str] = BY, db: Optional[str] = DB) -> None:
    """Review the book for a business date: open, move and close cases; check promises."""
    from puhui.services import collections as svc

    on = _date(day) if day else None
    summary = _as(by, db, lambda p, s, a: svc.run_daily(p, s, a, on))
    console.print(" ".join(f"{k}={v}" for k, v in summary.items()))
