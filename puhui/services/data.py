"""Collecting an applicant's business data for a credit decision, under consent, kept as received.

Why one operation: every query of a provider must be covered by a consent for that data scope
and purpose (checked and logged by `use_data`), and what came back must be kept verbatim beside
the consent that allowed it, so the decision can be reproduced and defended later.  A payload
that fails validation is kept too (status "rejected", with the error) and reported to the
caller instead of raised: bad partner data should refer an application, not crash it.

Stored packed (`puhui.store.payload_codec`: columns, then zstd), beside the SHA-256 of the bytes
as received and the consent; read back byte for byte (`StoredPayload.received`), the hash
checked on every read (`PayloadTampered` when it no longer matches).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from puhui.parties.consent import DataScope, Purpose
from puhui.risk.data.connectors import ConnectorSet, Received
from puhui.risk.data.payload import SourceData, parse_payload, source_scope
from puhui.risk.errors import InvalidRecord, PayloadTampered, SourceFailed, SourceUnavailable
from puhui.services import stages
from puhui.services.applicants import business_identity, use_data_for
from puhui.services.planned import write_at_commit
from puhui.services.platform import Platform
from puhui.services.sources import fetch_all
from puhui.store import monitoring_repo, payload_codec, risk_repo

#: How `collect` reports a source that could not be asked or answered garbage (a data problem:
#: the application is referred); a provider holding nothing reads "unavailable: ...".
FAILED = "failed:"


@dataclass(frozen=True)
class CollectedData:
    """The valid data per scope, and why each other requested scope is missing."""

    data: Mapping[DataScope, SourceData] = field(default_factory=dict)
    errors: Mapping[DataScope, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class StoredPayload:
    id: int
    applicant_id: str
    application_id: str | None
    scope: DataScope
    consent_id: str
    fetched_at: datetime
    as_of: date
    status: str
    error: str | None
    payload: Any
    payload_sha256: str
    #: The payload's bytes exactly as received (their SHA-256 is `payload_sha256`).
    received: bytes = b""


def canonical_bytes(payload: Any) -> bytes:
    """The stored form of a payload: sorted keys, no spaces, UTF-8 kept (hashed as stored).

    orjson writes it (a tenth of the time of the standard library's encoder, on the ~0.5 MB an
    application's sources answer); what orjson refuses (integers beyond 64 bits, keys that are
    not text) is written by the standard library in the same form."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode("utf-8")


def canonical_text(payload: Any) -> str:
    """`canonical_bytes` as text."""
    return canonical_bytes(payload).decode("utf-8")


def _validate(scope: DataScope, raw: Any, business: str, as_of: date) -> SourceData:
    parsed = parse_payload(scope, raw)
    if parsed.as_of != as_of:
        raise InvalidRecord(scope.value, None, "as_of", f"{parsed.as_of} is not the requested "
                                                         f"{as_of}")
    if parsed.business_id != business:
        raise InvalidRecord(scope.value, None, "business_id", f"{parsed.business_id!r} is not "
                                                               f"the business asked for")
    return parsed


def collect(p: Platform, session: Session, applicant_id: str, application_id: str | None,
            scopes: Iterable[DataScope | str], as_of: date,
            connectors: ConnectorSet) -> CollectedData:
    """Fetch, validate and store each scope's payload for the applicant as of `as_of`.

    Consent is checked first for every scope (`ConsentError` propagates: nothing is fetched
    without it).  Connectors are asked with the business's identity (`business_identity`: its
    unified social credit code), as real providers know it, so the same business registered
    twice gets the same data; the payload must answer for that business.  The sources are
    asked concurrently (`services.sources.fetch_all`: a timeout, retries and a circuit breaker per
    source, one deadline for all); a source that cannot be asked or answers garbage is reported
    in `errors` as "failed: <source>: <problem>", never raised.
    """
    business = business_identity(session, applicant_id)
    data: dict[DataScope, SourceData] = {}
    errors: dict[DataScope, str] = {}
    wanted = list(dict.fromkeys(source_scope(s) for s in scopes))
    consents = use_data_for(p, session, applicant_id, wanted, Purpose.CREDIT_ASSESSMENT,
                            application_id)
    fetched_at = p.clock.now()
    with stages.stage("providers"):
        answers = fetch_all(connectors, business, as_of, wanted)  # concurrently, bounded in time
    for scope in wanted:
        consent, raw = consents[scope], answers[scope]
        if isinstance(raw, SourceUnavailable):
            errors[scope] = f"unavailable: {raw}"
            continue
        if isinstance(raw, SourceFailed):
            errors[scope] = f"{FAILED} {raw}"
            continue
        error = None
        body, payload, parsed = as_received(raw)
        with stages.stage("validate"):
            try:
                data[scope] = _validate(scope, payload, business, as_of)
            except InvalidRecord as exc:
                error = errors[scope] = str(exc)
        with stages.stage("store"):
            risk_repo.add_payload(session, {
                "applicant_id": applicant_id, "application_id": application_id,
                "scope": scope.value, "consent_id": consent.consent_id,
                "fetched_at": fetched_at, "as_of": as_of,
                "status": "rejected" if error else "accepted", "error": error,
                **payload_values(body, parsed=parsed)})
    if data:  # payloads the merged monitoring states do not hold: built again when next read
        dropped = [s.value for s in data]
        write_at_commit(session, lambda writer: monitoring_repo.drop_states(
            writer, [applicant_id], dropped))
    return CollectedData(data, errors)


def as_received(answer: Any) -> tuple[bytes, Any, Any]:
    """A connector's answer as (the bytes to store, the value to validate, the parse the packing
    may trust or None): a source's bytes as sent and their parse; an in-process source's value
    kept in its canonical form (which the packing parses again: it trusts only a real parse)."""
    if isinstance(answer, Received):
        return answer.body, answer.payload, answer.payload
    return canonical_bytes(answer), answer, None


def payload_values(received: bytes, compression: str | None = None,
                   parsed: Any = None) -> dict[str, Any]:
    """The stored columns of a payload received as `received`: packed, its size and SHA-256.
    `parsed`: `orjson.loads(received)` when the caller has it (saves parsing it again)."""
    codec, blob = (payload_codec.pack(received, compression) if parsed is None
                   else payload_codec.pack(received, compression, parsed=parsed))
    return {"payload": None, "payload_codec": codec, "payload_blob": blob,
            "payload_bytes": len(received), "payload_sha256": hashlib.sha256(received).hexdigest()}


def received_bytes(row: Any) -> bytes:
    """A stored payload row's bytes as received, checked against its SHA-256
    (`PayloadTampered` otherwise).  Rows from before revision 0013 hold their text."""
    what = f"stored payload {row.id}"
    if row.payload_codec is None:
        if row.payload is None:
            raise PayloadTampered(f"{what} holds neither text nor a packed payload")
        data = row.payload.encode("utf-8")
    else:
        if row.payload_blob is None:
            raise PayloadTampered(f"{what} has lost its packed content")
        data = payload_codec.unpack(row.payload_codec, row.payload_blob)
    if row.payload_bytes is not None and len(data) != row.payload_bytes:
        raise PayloadTampered(f"{what} does not match its sha256 (its size changed)")
    return payload_codec.checked(data, row.payload_sha256, what)


def stored_payloads(session: Session, application_id: str) -> list[StoredPayload]:
    """The payloads stored for an application, oldest first, each with its bytes as received;
    `PayloadTampered` (a `RiskDataError`) if a stored payload no longer matches its SHA-256."""
    rows = risk_repo.payloads(session, application_id)
    out = []
    for r in rows:
        received = received_bytes(r)
        out.append(StoredPayload(r.id, r.applicant_id, r.application_id, DataScope(r.scope),
                                 r.consent_id, r.fetched_at, r.as_of, r.status, r.error,
                                 json.loads(received), r.payload_sha256, received))
    return out


def accepted_data(stored: Iterable[StoredPayload]) -> dict[DataScope, SourceData]:
    """The accepted payloads re-validated, latest per scope: the data a decision used."""
    latest = {s.scope: s for s in stored if s.status == "accepted"}
    return {scope: parse_payload(scope, s.payload) for scope, s in latest.items()}
