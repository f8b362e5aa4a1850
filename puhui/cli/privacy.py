"""`puhui privacy`: an applicant's personal data exported or erased, unconsented registrations
purged, data-source payloads purged after their retention, the master key rotated."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Optional

import typer

from puhui.cli.common import _as_operator, _date, _existing, _platform, console

privacy_app = typer.Typer(help="Personal data: export, erasure, key rotation, purge.",
                          no_args_is_help=True)


@privacy_app.command("export")
def privacy_export(applicant_id: str = typer.Argument(...),
                   reason: str = typer.Option(..., help="why (kept in the access log)"),
                   out: Optional[Path] = typer.Option(None, help="write the JSON here"),
                   db: Optional[str] = typer.Option(None)) -> None:
    """Everything held on an applicant, as JSON (logged)."""
    from puhui.services import privacy

    data = _as_operator(db, lambda p, s, actor: privacy.export(p, s, actor, applicant_id, reason))
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if out is None:
        print(text)
    else:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        console.print(f"written to {out}")


@privacy_app.command("erase")
def privacy_erase(applicant_id: str = typer.Argument(...),
                  reason: str = typer.Option(..., help="why (kept in the access log)"),
                  db: Optional[str] = typer.Option(None)) -> None:
    """Erase an applicant's personal data (refused while a contract needs it)."""
    from puhui.services import privacy

    result = _as_operator(db, lambda p, s, actor: privacy.erase(p, s, actor, applicant_id, reason))
    console.print(json.dumps(result, ensure_ascii=False))


@privacy_app.command("purge-unconsented")
def privacy_purge(days: int = typer.Option(30, min=1, help="retention without consent, days"),
                  db: Optional[str] = typer.Option(None)) -> None:
    """Erase registrations that received no consent within `days`."""
    from puhui.services import privacy

    ids = _as_operator(db, lambda p, s, actor: privacy.purge_unconsented(
        p, s, actor, timedelta(days=days)))
    console.print(f"erased {len(ids)} registration(s) without consent: {', '.join(ids)}")


@privacy_app.command("purge-payloads")
def privacy_purge_payloads(
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="say what would be purged, delete nothing"),
        as_of: Optional[str] = typer.Option(
            None, "--as-of", help="purge what expired before this date, YYYY-MM-DD (default: "
                                  "today's business date; a later date is refused)"),
        db: Optional[str] = typer.Option(None)) -> None:
    """Delete the data-source payloads kept longer than PUHUI_PAYLOAD_RETENTION_YEARS (default
    5) after their loan closed or their application ended; each is tombstoned and logged."""
    from puhui.services.retention import purge_payloads

    day = _date(as_of) if as_of else None
    report = _as_operator(db, lambda p, s, actor: purge_payloads(p, s, actor, day, dry_run))
    print(json.dumps(report, ensure_ascii=False, indent=1))


@privacy_app.command("rotate")
def privacy_rotate(new_key: bool = typer.Option(
        True, help="make a new master key active (--no-new-key: re-wrap under the active key, "
                   "e.g. after PUHUI_DATA_KEYS changed)"),
        db: Optional[str] = typer.Option(None)) -> None:
    """Rotate the master key: re-wrap every data key and seal rows from before encryption."""
    from puhui.services.privacy import rotate_keys

    platform = _platform(_existing(db))
    try:
        report = rotate_keys(platform.engine, new_master=new_key)
    finally:
        platform.close()
    console.print(json.dumps(report))
