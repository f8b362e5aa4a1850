"""The commands of a versioned-document registry: validate, register, activate, list, show.

Why one builder: a credit policy (`puhui policy`) and a line policy (`puhui line-policy`) are
different documents in different registries, but are changed the same way (a reviewed file,
validated, registered as a content-addressed version, activated) and must answer the same way;
each group names its document, its registry and how to describe a valid one.  Exit codes: 0
done, 1 refused (an invalid document, an unknown or tampered version, a version reused with
other content).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


@dataclass(frozen=True)
class RegistryKind:
    """What a command group manages: `noun` ("policy", "line policy"), its registry's default
    directory, how to read a file, open a registry, describe a valid document, and what `show`
    prints when nothing is active (None: refuse)."""

    noun: str
    default_dir: Path
    read: Callable[[Path], Any]
    registry: Callable[[Path], Any]
    describe: Callable[[Any], str]
    fallback: Callable[[], Any] | None = None


def _refuse(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]", soft_wrap=True)
    raise typer.Exit(1)


def registry_app(kind: RegistryKind, help: str) -> typer.Typer:
    """A Typer group with the five commands over `kind`'s registry."""
    app = typer.Typer(help=help, no_args_is_help=True)
    registry_option = typer.Option(kind.default_dir, "--registry",
                                   help=f"{kind.noun} registry directory")
    document = typer.Argument(..., help=f"{kind.noun} document (JSON)")

    @app.command("validate")
    def validate(file: Path = document) -> None:
        """Check a document; print its identity, or every problem found."""
        from puhui.decision.errors import DecisionError

        try:
            doc = kind.read(file)
        except DecisionError as exc:
            _refuse(exc)
        console.print(f"valid: {doc.name} {doc.identity} (sha256 {doc.sha256}); "
                      f"{kind.describe(doc)}", soft_wrap=True)

    @app.command("register")
    def register(file: Path = document,
                 activate: bool = typer.Option(False, "--activate", help="activate it as well"),
                 registry: Path = registry_option) -> None:
        """Register a version (the same content again changes nothing)."""
        from puhui.decision.errors import DecisionError

        try:
            store = kind.registry(registry)
            record = store.register(kind.read(file))
            if activate:
                store.activate(record.version)
        except DecisionError as exc:
            _refuse(exc)
        console.print(f"registered {record.version} (sha256 {record.sha256[:12]}) in {registry}"
                      + ("; active" if activate else ""), soft_wrap=True)

    @app.command("activate")
    def activate(version: str = typer.Argument(...), registry: Path = registry_option) -> None:
        """Make a registered version the active one."""
        from puhui.decision.errors import DecisionError

        try:
            record = kind.registry(registry).activate(version)
        except DecisionError as exc:
            _refuse(exc)
        console.print(f"active: {record.version} (sha256 {record.sha256[:12]})", soft_wrap=True)

    @app.command("list")
    def list_(registry: Path = registry_option) -> None:
        """Every registered version; the active one is marked."""
        from puhui.decision.errors import DecisionError, NoActivePolicy

        store = kind.registry(registry)
        try:
            records = store.list()
            try:
                active = store.active_version()
            except NoActivePolicy:
                active = None
        except DecisionError as exc:
            _refuse(exc)
        table = Table(title=f"{kind.noun.capitalize()} versions in {registry}")
        for column in ("", "version", "name", "sha256", "effective from", "registered (UTC)"):
            table.add_column(column)
        for r in records:
            table.add_row("*" if r.version == active else "", r.version, r.name, r.sha256[:12],
                          r.effective_from.isoformat(),
                          r.registered_at.strftime("%Y-%m-%d %H:%M"))
        console.print(table)

    @app.command("show")
    def show(version: Optional[str] = typer.Argument(None, help="default: the active version"),
             registry: Path = registry_option) -> None:
        """Print a registered version (the active one by default) as JSON."""
        from puhui.decision.errors import DecisionError, NoActivePolicy

        store = kind.registry(registry)
        try:
            doc = store.load(version) if version else store.active()
        except NoActivePolicy as exc:
            if kind.fallback is None:
                _refuse(exc)
            doc = kind.fallback()
        except DecisionError as exc:
            _refuse(exc)
        typer.echo(json.dumps(json.loads(doc.canonical_json()), indent=2, ensure_ascii=False))

    return app
