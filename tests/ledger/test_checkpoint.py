"""Signed checkpoints: the signature covers every field, and a malformed one is refused."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from puhui.errors import CheckpointError
from puhui.ledger import checkpoint as cp
from puhui.ledger.checkpoint import ChainHead

KEY = Ed25519PrivateKey.generate()
AT = datetime(2026, 12, 7, 4, 0, tzinfo=timezone.utc)
JOURNAL, EVENTS = ChainHead(10, "a" * 64), ChainHead(7, "b" * 64)


def signed() -> cp.Checkpoint:
    return cp.sign("c" * 32, JOURNAL, EVENTS, KEY, AT)


def test_sign_write_parse_and_verify() -> None:
    checkpoint = signed()
    back = cp.parse(checkpoint.to_json())
    assert back == checkpoint
    back.verify_signature(KEY.public_key())
    assert checkpoint.key_id == cp.key_id(KEY.public_key()) and len(checkpoint.key_id) == 16
    data = json.loads(checkpoint.to_json())
    assert data["time"] == "2026-12-07T04:00:00Z"
    assert data["journal"] == {"seq": 10, "hash": "a" * 64, "entries": 10}
    # the signed bytes are the canonical JSON of all but the signature
    assert checkpoint.signed_bytes() == json.dumps(
        {k: v for k, v in data.items() if k != "signature"}, sort_keys=True,
        separators=(",", ":")).encode()


def test_a_time_in_another_zone_is_signed_as_utc() -> None:
    east8 = timezone(timedelta(hours=8))
    checkpoint = cp.sign("c" * 32, JOURNAL, EVENTS, KEY, AT.astimezone(east8))
    assert checkpoint.statement()["time"] == "2026-12-07T04:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        cp.sign("c" * 32, JOURNAL, EVENTS, KEY, datetime(2026, 12, 7))


@pytest.mark.parametrize("change", [
    {"journal": ChainHead(9, "a" * 64)},
    {"journal": ChainHead(10, "d" * 64)},
    {"events": ChainHead(8, "b" * 64)},
    {"book_id": "d" * 32},
    {"time": AT + timedelta(seconds=1)},
])
def test_every_field_is_under_the_signature(change) -> None:
    with pytest.raises(CheckpointError, match="signature does not verify"):
        replace(signed(), **change).verify_signature(KEY.public_key())


def test_another_key_or_a_garbled_signature_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(CheckpointError, match="signed by key"):
        signed().verify_signature(other.public_key())
    with pytest.raises(CheckpointError, match="signature does not verify"):
        replace(signed(), signature="not base64!").verify_signature(KEY.public_key())
    forged = base64.b64encode(other.sign(signed().signed_bytes())).decode()
    with pytest.raises(CheckpointError, match="signature does not verify"):
        replace(signed(), signature=forged).verify_signature(KEY.public_key())


def _edit(**fields) -> str:
    data = json.loads(signed().to_json())
    for name, value in fields.items():
        if value is None:
            data.pop(name)
        else:
            data[name] = value
    return json.dumps(data)


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[]", "JSON object"),
    (_edit(format="puhui-checkpoint/2"), "unknown checkpoint format"),
    (_edit(book_id=""), "book_id"),
    (_edit(key_id="XYZ"), "key_id"),
    (_edit(signature=None), "not signed"),
    (_edit(time="yesterday"), "not ISO 8601"),
    (_edit(time="2026-12-07T04:00:00"), "no time zone"),
    (_edit(journal={"seq": 10, "hash": "a" * 64}), "seq, hash and entries"),
    (_edit(journal={"seq": -1, "hash": "a" * 64, "entries": -1}), "count"),
    (_edit(journal={"seq": 10, "hash": "a" * 64, "entries": 9}), "equal to its entries"),
    (_edit(journal={"seq": True, "hash": "a" * 64, "entries": True}), "count"),
    (_edit(events={"seq": 7, "hash": "B" * 64, "entries": 7}), "64 lowercase hex"),
    (_edit(note="trust me"), "fields it should not"),
])
def test_malformed_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        cp.parse(text)


def test_keys_round_trip_through_pem_and_other_keys_are_refused() -> None:
    private_pem, public_pem = cp.new_key_pair()
    private = cp.private_key_from_pem(private_pem)
    public = cp.public_key_from_pem(public_pem)
    assert cp.key_id(private.public_key()) == cp.key_id(public)
    with pytest.raises(CheckpointError, match="not a PEM public key"):
        cp.public_key_from_pem(b"nonsense")
    with pytest.raises(CheckpointError, match="not an unencrypted PEM private key"):
        cp.private_key_from_pem(public_pem)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    p256 = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CheckpointError, match="not an Ed25519"):
        cp.private_key_from_pem(p256.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    with pytest.raises(CheckpointError, match="not an Ed25519"):
        cp.public_key_from_pem(p256.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
