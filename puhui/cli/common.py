"""What the `puhui` commands share: the console, opening the book or the platform on an existing
database (a mistyped path is refused, never created), the risk options, running as the system
operator, and reading a date argument."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from puhui.errors import PuhuiError

console = Console()


def _book(url: Optional[str]):
    from puhui.services.database import open_book

    return open_book(url)


def _existing(url: Optional[str]) -> str:
    """The URL of an existing Puhui database, or exit 2 saying why: a command that reads a book
    (or acts on its loans) never creates one."""
    from puhui.services.database import require_existing

    try:
        return require_existing(url)
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)


def _existing_book(url: Optional[str]):
    """`_book` for a database that must already exist (see `_existing`)."""
    return _book(_existing(url))


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
    from puhui.risk.data.resilience import SourceSettingsError

    try:
        return open_platform(db, risk["decider"], models_root=risk.get("models", RISK["models"]),
                             policies_root=risk.get("policies", RISK["policies"]),
                             progress=console.print, **parts)
    except SourceSettingsError as exc:
        console.print(f"[red]data source settings: {exc}[/red]")
        raise typer.Exit(2)


def _risk_options(decider: str, models: Path, policies: Path) -> dict:
    return {"decider": decider, "models": models, "policies": policies}


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


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None
