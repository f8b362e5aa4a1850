"""`puhui ledger keygen | checkpoint | verify --against` on a small SQLite book: a loan event
edited in place fails verify; a tail cut off the chains and their heads passes a plain verify but
fails against a checkpoint signed before the cut."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from puhui.cli import app
from puhui.store.loan_repo import payload_hash

runner = CliRunner()


@pytest.fixture(scope="module")
def small_book(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small serviced book."""
    root = tmp_path_factory.mktemp("checkpoint")
    path = root / "book.sqlite"
    result = runner.invoke(app, ["run", "--loans", "6", "--days", "40", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    return {"db": path, "root": root}


@pytest.fixture(scope="module")
def signed_book(small_book: dict[str, Path]) -> dict[str, Path]:
    """The small book, a key pair and a checkpoint of the book signed with it."""
    root, path = small_book["root"], small_book["db"]
    made = runner.invoke(app, ["ledger", "keygen", "--out", str(root / "ops.key")])
    assert made.exit_code == 0, made.output
    signed = runner.invoke(app, ["ledger", "checkpoint", "--key", str(root / "ops.key"),
                                 "--out", str(root / "cp.json"), "--db", f"sqlite:///{path}"])
    assert signed.exit_code == 0, signed.output
    return {"db": path, "key": root / "ops.key", "pub": root / "ops.key.pub",
            "checkpoint": root / "cp.json", "root": root}


def copy_of(book: dict[str, Path], name: str) -> Path:
    copy = book["root"] / name
    with sqlite3.connect(book["db"]) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


def said(result) -> str:
    """The command's output with the console's line wrapping undone."""
    return " ".join(result.output.split())


def verify(db: Path, *args: str):
    return runner.invoke(app, ["ledger", "verify", "--db", f"sqlite:///{db}", *args])


def test_keygen_makes_a_private_key_only_its_owner_reads(signed_book, tmp_path) -> None:
    assert stat.S_IMODE(os.stat(signed_book["key"]).st_mode) == 0o600
    assert b"PUBLIC KEY" in signed_book["pub"].read_bytes()
    assert b"PRIVATE KEY" in signed_book["key"].read_bytes()
    before = signed_book["key"].read_bytes()
    again = runner.invoke(app, ["ledger", "keygen", "--out", str(signed_book["key"])])
    assert again.exit_code == 2 and "never overwritten" in said(again)
    assert signed_book["key"].read_bytes() == before


def test_the_checkpoint_is_signed_json_of_both_heads(signed_book) -> None:
    data = json.loads(signed_book["checkpoint"].read_text())
    assert data["format"] == "puhui-checkpoint/1" and data["time"].endswith("Z")
    assert data["journal"]["seq"] > 0 and data["events"]["seq"] > 0
    assert data["journal"]["entries"] == data["journal"]["seq"]
    assert len(data["signature"]) == 88  # 64 bytes of Ed25519 signature, base64
    # every event the servicing run stored (openings, payments) is on the chain; the daily
    # closes are recorded per partition, not as events
    with sqlite3.connect(signed_book["db"]) as con:
        stored, = con.execute("SELECT count(*) FROM loan_events").fetchone()
        kinds = {k for k, in con.execute("SELECT DISTINCT event_type FROM loan_events")}
        closes, = con.execute("SELECT count(*) FROM book_closes").fetchone()
    assert data["events"]["seq"] == stored and "disbursement" in kinds
    assert "end_of_day" not in kinds and closes > 0
    ok = verify(signed_book["db"], "--against", str(signed_book["checkpoint"]),
                "--public-key", str(signed_book["pub"]))
    assert ok.exit_code == 0, ok.output
    assert "holds checkpoint" in said(ok)
    assert f"{data['events']['seq']} loan events verified" in said(ok)


def edited_copy(book: dict[str, Path]) -> Path:
    """A copy of the book with one repayment's amount edited, its payload hash made to match."""
    copy = copy_of(book, "edited.sqlite")
    con = sqlite3.connect(copy)
    con.execute("DROP TRIGGER loan_events_no_update")  # what an attacker would have to do
    body, = con.execute("SELECT payload FROM loan_events WHERE event_type = 'repayment' "
                        "ORDER BY id LIMIT 1").fetchone()
    edited = json.dumps({**json.loads(body), "amount": 1}, sort_keys=True, separators=(",", ":"))
    con.execute("UPDATE loan_events SET payload = ?, payload_hash = ? WHERE payload = ?",
                (edited, payload_hash(edited), body))
    con.commit()
    con.close()
    return copy


def test_an_edited_loan_event_fails_verify(small_book) -> None:
    result = verify(edited_copy(small_book))
    assert result.exit_code == 1, result.output
    assert "FAILED" in said(result) and "altered" in said(result)


def test_a_tampered_book_is_never_signed(signed_book) -> None:
    copy = signed_book["root"] / "edited.sqlite"
    if not copy.exists():
        copy = edited_copy(signed_book)
    refused = runner.invoke(app, ["ledger", "checkpoint", "--key", str(signed_book["key"]),
                                  "--out", str(signed_book["root"] / "never.json"),
                                  "--db", f"sqlite:///{copy}"])
    assert refused.exit_code == 1 and "nothing signed" in said(refused)
    assert not (signed_book["root"] / "never.json").exists()


@pytest.mark.parametrize("chain", ["journal", "events"])
def test_a_cut_tail_passes_alone_but_fails_against_the_checkpoint(signed_book, chain) -> None:
    copy = copy_of(signed_book, f"cut-{chain}.sqlite")
    con = sqlite3.connect(copy)
    if chain == "journal":
        for table in ("journal_postings", "journal_entries"):
            con.execute(f"DROP TRIGGER {table}_no_delete")
        last, = con.execute("SELECT max(seq) FROM journal_entries").fetchone()
        con.execute("DELETE FROM journal_postings WHERE entry_seq > ?", (last - 3,))
        con.execute("DELETE FROM journal_entries WHERE seq > ?", (last - 3,))
        con.execute("UPDATE ledger_head SET last_seq = ?, last_hash = (SELECT hash FROM "
                    "journal_entries WHERE seq = ?)", (last - 3, last - 3))
    else:
        con.execute("DROP TRIGGER loan_events_no_delete")
        last, = con.execute("SELECT max(chain_seq) FROM loan_events").fetchone()
        con.execute("DELETE FROM loan_events WHERE chain_seq > ?", (last - 3,))
        con.execute("UPDATE ledger_head SET events_seq = ?, events_hash = (SELECT hash FROM "
                    "loan_events WHERE chain_seq = ?)", (last - 3, last - 3))
    con.commit()
    con.close()
    alone = verify(copy)
    if chain == "events":
        assert alone.exit_code == 0  # a shorter chain that is consistent in itself
    else:
        # the journal's tail holds the last close's attestations: the close records it cut
        # loose show the cut even without a checkpoint
        assert alone.exit_code == 1 and "not the one the journal attests" in said(alone)
    result = verify(copy, "--against", str(signed_book["checkpoint"]),
                    "--public-key", str(signed_book["pub"]))
    assert result.exit_code == 1, result.output
    assert "FAILED" in said(result) and f"has {last - 3} " in said(result)
    assert "cut off after the checkpoint" in said(result)


def test_a_checkpoint_needs_its_signers_public_key(signed_book, tmp_path) -> None:
    against = ("--against", str(signed_book["checkpoint"]))
    result = verify(signed_book["db"], *against)
    assert result.exit_code == 2 and "--public-key" in said(result)
    other = tmp_path / "other.key"
    assert runner.invoke(app, ["ledger", "keygen", "--out", str(other)]).exit_code == 0
    result = verify(signed_book["db"], *against, "--public-key", f"{other}.pub")
    assert result.exit_code == 2 and "signed by key" in said(result)
    forged = tmp_path / "forged.json"
    data = json.loads(signed_book["checkpoint"].read_text())
    data["events"]["seq"] = data["events"]["entries"] = 1
    forged.write_text(json.dumps(data))
    result = verify(signed_book["db"], "--against", str(forged),
                    "--public-key", str(signed_book["pub"]))
    assert result.exit_code == 2 and "signature does not verify" in said(result)
    result = verify(signed_book["db"], "--against", str(tmp_path / "missing.json"),
                    "--public-key", str(signed_book["pub"]))
    assert result.exit_code == 2 and "cannot read" in said(result)


def test_checkpoint_refuses_a_loose_key_and_an_existing_file(signed_book, tmp_path) -> None:
    db = f"sqlite:///{signed_book['db']}"
    loose = tmp_path / "loose.key"
    loose.write_bytes(signed_book["key"].read_bytes())
    loose.chmod(0o644)
    result = runner.invoke(app, ["ledger", "checkpoint", "--key", str(loose),
                                 "--out", str(tmp_path / "x.json"), "--db", db])
    assert result.exit_code == 2 and "chmod 600" in said(result)
    assert not (tmp_path / "x.json").exists()
    result = runner.invoke(app, ["ledger", "checkpoint", "--key", str(signed_book["key"]),
                                 "--out", str(signed_book["checkpoint"]), "--db", db])
    assert result.exit_code == 2 and "never overwritten" in said(result)
