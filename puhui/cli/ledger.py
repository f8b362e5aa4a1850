"""`puhui ledger`: verify the journal and event hash chains, make a checkpoint key, sign a
checkpoint of the book."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from puhui.cli.common import _book, _existing_book, console
from puhui.errors import PuhuiError

ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)


@ledger_app.command("verify")
def ledger_verify(db: Optional[str] = typer.Option(None),
                  against: Optional[Path] = typer.Option(
                      None, "--against", help="a signed checkpoint the book must still hold"),
                  public_key: Optional[Path] = typer.Option(
                      None, "--public-key", envvar="PUHUI_CHECKPOINT_PUBLIC_KEY",
                      help="the checkpoint signer's Ed25519 public key (PEM)")) -> None:
    """Check every journal entry's and loan event's hash link, the entries' balance and the trial
    balance; with --against, also that nothing the checkpoint signed was cut off or rewritten."""
    from puhui.errors import CheckpointError
    from puhui.services import checkpoints

    try:
        checkpoint = None if against is None else checkpoints.read_checkpoint(against)
        key = None if public_key is None else checkpoints.load_public_key(public_key)
        if checkpoint is not None and key is None:
            raise CheckpointError("--against needs the signer's --public-key (or "
                                  "PUHUI_CHECKPOINT_PUBLIC_KEY)")
    except CheckpointError as exc:
        console.print(f"[red]checkpoint refused: {exc}[/red]")
        raise typer.Exit(2)
    book, _ = _existing_book(db)
    try:
        verified = book.verify(checkpoint, key)
    except CheckpointError as exc:
        console.print(f"[red]checkpoint refused: {exc}[/red]")
        raise typer.Exit(2)
    except PuhuiError as exc:
        console.print(f"[red]ledger verification FAILED: {exc}[/red]")
        raise typer.Exit(1)
    trial = book.trial_balance()
    ok = all(v == 0 for v in trial.values())
    console.print(f"{verified.journal.seq} entries and {verified.events.seq} loan events "
                  f"verified; trial balance {trial} {'balanced' if ok else 'OUT OF BALANCE'}")
    console.print(f"journal head {verified.journal.seq} {verified.journal.hash}")
    console.print(f"event head {verified.events.seq} {verified.events.hash}")
    if checkpoint is not None:
        console.print(f"holds checkpoint of {checkpoint.statement()['time']} (journal "
                      f"{checkpoint.journal.seq}, events {checkpoint.events.seq}, key "
                      f"{checkpoint.key_id})")
    if not ok:
        raise typer.Exit(1)


@ledger_app.command("keygen")
def ledger_keygen(out: Path = typer.Option(..., "--out", help="private key file to create; the "
                                                               "public key goes to OUT.pub")) -> None:
    """Create an Ed25519 key pair for signing checkpoints (private key mode 0600)."""
    from puhui.errors import CheckpointError
    from puhui.services import checkpoints

    public = out.with_name(out.name + ".pub")
    try:
        key_id = checkpoints.generate_key_files(out, public)
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    console.print(f"key {key_id}: private key {out} (keep it secret), public key {public}")


@ledger_app.command("checkpoint")
def ledger_checkpoint(key: Path = typer.Option(..., "--key", help="Ed25519 private key (PEM)"),
                      out: Path = typer.Option(..., "--out", help="checkpoint file to create"),
                      db: Optional[str] = typer.Option(None)) -> None:
    """Verify the book, then write a checkpoint of its journal and event heads signed with KEY:
    keep it away from the database, and `ledger verify --against` it later."""
    from puhui.calendar import utcnow
    from puhui.errors import CheckpointError
    from puhui.services import checkpoints

    try:
        private = checkpoints.load_private_key(key)
        if out.exists():
            raise CheckpointError(f"{out} exists; checkpoints are never overwritten")
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    book, _ = _book(db)
    try:
        signed = book.checkpoint(private, utcnow())
        checkpoints.write_checkpoint(signed, out)
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)
    except PuhuiError as exc:
        console.print(f"[red]ledger verification FAILED, nothing signed: {exc}[/red]")
        raise typer.Exit(1)
    console.print(f"checkpoint {out}: journal {signed.journal.seq} {signed.journal.hash}, "
                  f"events {signed.events.seq} {signed.events.hash}, key {signed.key_id}")
