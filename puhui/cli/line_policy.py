"""`puhui line-policy`: validate, register, activate and inspect line policies.

Why a command of its own beside `puhui policy`: a line policy (docs/line-policy.md) is a
different document, kept in its own registry (`var/line-policies`), but changed the same way:
a reviewed file, validated, registered as a new version and activated; re-evaluations apply the
active version from then on.  Exit codes: 0 done, 1 refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

line_policy_app = typer.Typer(help="Line policies (re-evaluation of credit lines): validate, "
                                   "register, activate, list, show.", no_args_is_help=True)
console = Console()
REGISTRY = typer.Option(Path("var/line-policies"), "--registry",
                        help="line policy registry directory")


def _refuse(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]", soft_wrap=True)
    raise typer.Exit(1)


@line_policy_app.command("validate")
def validate(file: Path = typer.Argument(..., help="line policy document (JSON)")) -> None:
    """Check a line policy document; print its identity, or every problem found."""
    from puhui.decision.errors import DecisionError
    from puhui.lines.policy import read_line_policy

    try:
        policy = read_line_policy(file)
    except DecisionError as exc:
        _refuse(exc)
    console.print(f"valid: {policy.name} {policy.identity} (sha256 {policy.sha256}); rules "
                  f"{', '.join(policy.codes)}; {policy.min_days_between_changes} days between "
                  "changes", soft_wrap=True)


@line_policy_app.command("register")
def register(file: Path = typer.Argument(..., help="line policy document (JSON)"),
             activate: bool = typer.Option(False, "--activate", help="activate it as well"),
             registry: Path = REGISTRY) -> None:
    """Register a line policy version (the same content again changes nothing)."""
    from puhui.decision.errors import DecisionError
    from puhui.lines.policy import read_line_policy
    from puhui.lines.registry import LinePolicyRegistry

    try:
        store = LinePolicyRegistry(registry)
        record = store.register(read_line_policy(file))
        if activate:
            store.activate(record.version)
    except DecisionError as exc:
        _refuse(exc)
    console.print(f"registered {record.version} (sha256 {record.sha256[:12]}) in {registry}"
                  + ("; active" if activate else ""), soft_wrap=True)


@line_policy_app.command("activate")
def activate(version: str = typer.Argument(...), registry: Path = REGISTRY) -> None:
    """Make a registered version the active line policy."""
    from puhui.decision.errors import DecisionError
    from puhui.lines.registry import LinePolicyRegistry

    try:
        record = LinePolicyRegistry(registry).activate(version)
    except DecisionError as exc:
        _refuse(exc)
    console.print(f"active: {record.version} (sha256 {record.sha256[:12]})", soft_wrap=True)


@line_policy_app.command("list")
def list_(registry: Path = REGISTRY) -> None:
    """Every registered version; the active one is marked."""
    from puhui.decision.errors import DecisionError, NoActivePolicy
    from puhui.lines.registry import LinePolicyRegistry

    store = LinePolicyRegistry(registry)
    try:
        records = store.list()
        try:
            active = store.active_version()
        except NoActivePolicy:
            active = None
    except DecisionError as exc:
        _refuse(exc)
    table = Table(title=f"Line policies in {registry}")
    for column in ("", "version", "name", "sha256", "effective from", "registered (UTC)"):
        table.add_column(column)
    for r in records:
        table.add_row("*" if r.version == active else "", r.version, r.name, r.sha256[:12],
                      r.effective_from.isoformat(), r.registered_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@line_policy_app.command("show")
def show(version: Optional[str] = typer.Argument(None, help="default: the active version"),
         registry: Path = REGISTRY) -> None:
    """Print a registered line policy (the active one by default, else the shipped one when
    nothing is registered) as JSON."""
    from puhui.decision.errors import DecisionError, NoActivePolicy
    from puhui.lines.policy import default_line_policy
    from puhui.lines.registry import LinePolicyRegistry

    store = LinePolicyRegistry(registry)
    try:
        policy = store.load(version) if version else store.active()
    except NoActivePolicy:
        policy = default_line_policy()
    except DecisionError as exc:
        _refuse(exc)
    typer.echo(json.dumps(json.loads(policy.canonical_json()), indent=2, ensure_ascii=False))
