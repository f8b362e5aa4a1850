"""`puhui keys`: issue API keys for partners and staff."""

from __future__ import annotations

from typing import Optional

import typer

from puhui.cli.common import _platform, console
from puhui.errors import PuhuiError

keys_app = typer.Typer(help="API keys for partners and staff.", no_args_is_help=True)


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
