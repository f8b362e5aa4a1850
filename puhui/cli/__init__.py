"""The `puhui` command line (entry point `puhui = "puhui.cli:app"`): one package for every
command, so the domain packages (risk, decision) import neither typer nor rich nor services."""

from puhui.cli.main import app

__all__ = ["app"]
