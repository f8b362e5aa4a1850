"""`puhui policy`: validate, register, activate and inspect credit policies.

Why a command: a policy change is a reviewed document, not a deployment.  The risk owner
validates the file, registers it (a new version, content-addressed), and activates it; deciders
built from the registry's active policy apply it from then on.  Exit codes: 0 done, 1 refused
(an invalid document, an unknown or tampered version, a version reused with other content).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

policy_app = typer.Typer(help="Credit policies: validate, register, activate, list, show.",
                         no_args_is_help=True)
console = Console()
REGISTRY = typer.Option(Path("var/policies"), "--registry", help="policy registry directory")


def _refuse(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]", soft_wrap=True)
    raise typer.Exit(1)


@policy_app.command("validate")
def validate(file: Path = typer.Argument(..., help="policy document (JSON)")) -> None:
    """Check a policy document; print its identity, or every problem found."""
    from puhui.decision.errors import DecisionError
    from puhui.decision.policy import read_policy

    try:
        policy = read_policy(file)
    except DecisionError as exc:
        _refuse(exc)
    console.print(f"valid: {policy.name} {policy.identity} (sha256 {policy.sha256}); "
                  f"{len(policy.knockouts)} knock-outs, grades {', '.join(policy.grade_names)}",
                  soft_wrap=True)


@policy_app.command("register")
def register(file: Path = typer.Argument(..., help="policy document (JSON)"),
             activate: bool = typer.Option(False, "--activate", help="activate it as well"),
             registry: Path = REGISTRY) -> None:
    """Register a policy version (the same content again changes nothing)."""
    from puhui.decision.errors import DecisionError
    from puhui.decision.policy import read_policy
    from puhui.decision.policy_registry import PolicyRegistry

    try:
        store = PolicyRegistry(registry)
        record = store.register(read_policy(file))
        if activate:
            store.activate(record.version)
    except DecisionError as exc:
        _refuse(exc)
    console.print(f"registered {record.version} (sha256 {record.sha256[:12]}) in {registry}"
                  + ("; active" if activate else ""), soft_wrap=True)


@policy_app.command("activate")
def activate(version: str = typer.Argument(...), registry: Path = REGISTRY) -> None:
    """Make a registered version the active policy."""
    from puhui.decision.errors import DecisionError
    from puhui.decision.policy_registry import PolicyRegistry

    try:
        record = PolicyRegistry(registry).activate(version)
    except DecisionError as exc:
        _refuse(exc)
    console.print(f"active: {record.version} (sha256 {record.sha256[:12]})", soft_wrap=True)


@policy_app.command("list")
def list_(registry: Path = REGISTRY) -> None:
    """Every registered version; the active one is marked."""
    from puhui.decision.errors import DecisionError, NoActivePolicy
    from puhui.decision.policy_registry import PolicyRegistry

    store = PolicyRegistry(registry)
    try:
        records = store.list()
        try:
            active = store.active_version()
        except NoActivePolicy:
            active = None
    except DecisionError as exc:
        _refuse(exc)
    table = Table(title=f"Policies in {registry}")
    for column in ("", "version", "name", "sha256", "effective from", "registered (UTC)"):
        table.add_column(column)
    for r in records:
        table.add_row("*" if r.version == active else "", r.version, r.name, r.sha256[:12],
                      r.effective_from.isoformat(), r.registered_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@policy_app.command("show")
def show(version: Optional[str] = typer.Argument(None, help="default: the active version"),
         registry: Path = REGISTRY) -> None:
    """Print a registered policy (the active one by default) as JSON."""
    from puhui.decision.errors import DecisionError
    from puhui.decision.policy_registry import PolicyRegistry

    store = PolicyRegistry(registry)
    try:
        policy = store.load(version) if version else store.active()
    except DecisionError as exc:
        _refuse(exc)
    typer.echo(json.dumps(json.loads(policy.canonical_json()), indent=2, ensure_ascii=False))
