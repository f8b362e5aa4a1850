"""The keyring: AES-256-GCM envelopes that name their master key, bound to their row, keyed
look-up hashes, rotation that keeps old keys, key files owner-only and never overwritten."""

from __future__ import annotations

import hashlib
import os
import stat

from pathlib import Path

import pytest

from puhui.store import crypto
from puhui.store.crypto import Keyring, KeyringError


def test_a_wrapped_key_names_its_master_key_and_opens_only_for_its_owner() -> None:
    ring = Keyring.generate()
    data_key = crypto.new_data_key()
    wrapped = ring.wrap(data_key, "AP1")
    assert wrapped.startswith(f"{crypto.WRAPPED}{ring.active}:")
    assert Keyring.key_id(wrapped) == ring.active
    assert ring.unwrap(wrapped, "AP1") == data_key
    with pytest.raises(KeyringError):
        ring.unwrap(wrapped, "AP2")  # moved to another applicant
    with pytest.raises(KeyringError):
        Keyring.generate().unwrap(wrapped, "AP1")  # another ring's key of the same id


def test_sealed_fields_authenticate_and_are_bound_to_their_row() -> None:
    key = crypto.new_data_key()
    token = crypto.seal(key, "110105198001013724", "applicants:AP1")
    assert token.startswith(crypto.SEALED) and "110105" not in token
    assert crypto.seal(key, "x", "c") != crypto.seal(key, "x", "c")  # fresh nonce each time
    assert crypto.open_sealed(key, token, "applicants:AP1") == "110105198001013724"
    with pytest.raises(KeyringError):
        crypto.open_sealed(key, token, "applicants:AP2")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(KeyringError):
        crypto.open_sealed(key, flipped, "applicants:AP1")
    assert crypto.is_sealed(token) and not crypto.is_sealed('{"a": 1}') and not crypto.is_sealed("")


def test_rotation_adds_an_active_key_and_keeps_the_old_ones() -> None:
    ring = Keyring.generate()
    wrapped = ring.wrap(crypto.new_data_key(), "AP1")
    rotated = ring.with_new_active()
    assert rotated.active == "m2" and set(rotated.keys) == {"m1", "m2"}
    assert rotated.unwrap(wrapped, "AP1") == ring.unwrap(wrapped, "AP1")
    rewrapped = rotated.rewrap(wrapped, "AP1")
    assert Keyring.key_id(rewrapped) == "m2"
    assert rotated.unwrap(rewrapped, "AP1") == ring.unwrap(wrapped, "AP1")
    assert rotated.with_new_active().active == "m3"
    with pytest.raises(KeyringError):
        ring.unwrap(rewrapped, "AP1")  # m2 is not in the old ring


def test_lookup_hashes_are_keyed() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    assert a.lookup_hash("resident_id", "1") == a.lookup_hash("resident_id", "1")
    assert a.lookup_hash("resident_id", "1") != b.lookup_hash("resident_id", "1")
    assert a.lookup_hash("resident_id", "1") != a.lookup_hash("mobile", "1")
    assert a.lookup_hash("resident_id", "1") != hashlib.sha256(b"resident_id:1").hexdigest()


@pytest.mark.parametrize("text", ["", "{}", '{"active": "m1", "keys": {}, "lookup": ""}',
                                  '{"active": "m1", "keys": {"m1": "AAAA"}, "lookup": "AAAA"}'])
def test_malformed_keyrings_are_refused(text: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.from_json(text)


def test_the_key_file_is_created_once_owner_only(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(crypto.KEYS_ENV, raising=False)
    monkeypatch.delenv(crypto.KEY_FILE_ENV, raising=False)
    url = f"sqlite:///{tmp_path}/db/x.sqlite"
    first = crypto.keyring_for(url)
    path = tmp_path / "db" / "x.sqlite.keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto._read_or_create(path).keys == first.keys  # a second start reads, not replaces
    assert crypto.key_file_for("postgresql+psycopg://u@h/db") == crypto.DEFAULT_KEY_FILE


def _create_and_report(path: str, barrier, out) -> None:
    barrier.wait()
    try:
        out.put(crypto._read_or_create(Path(path)).to_json())
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        out.put(f"error: {exc!r}")


def test_processes_starting_at_once_share_one_whole_key_file(tmp_path) -> None:
    """Server workers (and test workers) start together on a fresh machine: each gets the one
    keyring the first wrote, and none reads the file before it is whole."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = tmp_path / f"keys-{attempt}.json"
        barrier, out = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_create_and_report, args=(str(path), barrier, out))
                 for _ in range(6)]
        for proc in procs:
            proc.start()
        answers = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert not [a for a in answers if a.startswith("error")], answers
        assert len(set(answers)) == 1 and Keyring.from_json(answers[0])
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_keys_from_the_environment_cannot_be_rotated_in_place(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(crypto.KEYS_ENV, Keyring.generate().to_json())
    with pytest.raises(KeyringError):
        crypto.save_keyring(f"sqlite:///{tmp_path}/x.sqlite", Keyring.generate())
