"""A file-based policy registry: every policy version, content-addressed, and the active one.

Why: a decision names the policy it was made under (`Decision.policy_version`), and replaying it
must find exactly that document.  A version names one document forever: registering the same
version with different content is refused (`PolicyVersionConflict`), so a changed policy needs
a new version; registering identical content again is a no-op.  Loading re-hashes the stored
document and refuses one that no longer matches its manifest (`PolicyTampered`).  Activation is
a pointer; the history of activations is appended to a log.  As for models, the hash detects an
edited document; it does not stop someone who rewrites the manifest as well.  The directory
mechanics are the shared `puhui.artefacts.ArtefactStore` (models use it too).

    var/policies/
      sme-2026.11/
        policy.json       the canonical JSON of the validated document
        manifest.json     {"version", "name", "sha256", "size", "effective_from", "registered_at"}
      ACTIVE              {"version", "sha256", "activated_at"}
      activations.jsonl   one line per activation
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from puhui.artefacts import ArtefactStore, DigestMismatch, manifest_bytes, sha256
from puhui.decision.errors import (InvalidPolicy, NoActivePolicy, PolicyRegistryError,
                                   PolicyTampered, PolicyVersionConflict, UnknownPolicyVersion)
from puhui.decision.policy import Policy, load_policy

DEFAULT_ROOT = Path("var") / "policies"
DOCUMENT, MANIFEST, ACTIVE, LOG = "policy.json", "manifest.json", "ACTIVE", "activations.jsonl"
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class PolicyRecord:
    """A registered policy's manifest."""

    version: str
    name: str
    sha256: str
    size: int
    effective_from: date
    registered_at: datetime

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["effective_from"] = self.effective_from.isoformat()
        d["registered_at"] = self.registered_at.strftime(_STAMP)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PolicyRecord":
        try:
            stamp = datetime.strptime(d["registered_at"], _STAMP).replace(tzinfo=timezone.utc)
            return cls(str(d["version"]), str(d["name"]), str(d["sha256"]), int(d["size"]),
                       date.fromisoformat(d["effective_from"]), stamp)
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyRegistryError(f"malformed policy manifest: {exc!r}") from None


class PolicyRegistry:
    """Policies on disk under `root` (default `var/policies/`, created when first written)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self.store = ArtefactStore(self.root)

    @staticmethod
    def _validate(document: Any) -> Policy:
        """The validated document (a registry of another kind of policy validates its own)."""
        return load_policy(document)

    def register(self, document: Policy | Mapping[str, Any] | str | bytes, *,
                 registered_at: datetime | None = None) -> PolicyRecord:
        """Validate and store a policy; the same content again returns the existing record."""
        policy = self._validate(document)
        canonical = policy.canonical_json().encode("utf-8")
        digest = sha256(canonical)
        if self.store.exists(policy.version):
            record = self.record(policy.version)
            if record.sha256 != digest:
                raise PolicyVersionConflict(
                    f"policy version {policy.version} is already registered with different "
                    f"content (sha256 {record.sha256[:12]}, this one {digest[:12]}); a changed "
                    "policy needs a new version")
            return record
        stamp = _utc(registered_at)
        record = PolicyRecord(policy.version, policy.name, digest, len(canonical),
                              policy.effective_from, stamp)
        try:
            self.store.write(policy.version, {DOCUMENT: canonical,
                                              MANIFEST: manifest_bytes(record.to_dict())})
        except FileExistsError:
            return self.register(policy)  # registered meanwhile: same content or a conflict
        except OSError as exc:
            raise PolicyRegistryError(f"cannot store policy {policy.version}: {exc}") from None
        return record

    def record(self, version: str) -> PolicyRecord:
        """The manifest of `version` (no hash check: `load` does that)."""
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise UnknownPolicyVersion(f"no policy version {version!r}")
        path = self.root / version / MANIFEST
        try:
            doc = self.store.manifest(version, MANIFEST)
        except FileNotFoundError:
            raise UnknownPolicyVersion(f"no policy version {version!r} in {self.root}") from None
        except ValueError as exc:
            raise PolicyRegistryError(f"{path} is not JSON: {exc}") from None
        record = PolicyRecord.from_dict(doc)
        if record.version != version:
            raise PolicyTampered(f"{path} describes version {record.version}, not {version}")
        return record

    def load(self, version: str) -> Policy:
        """The policy of `version`, refused if its stored document was altered."""
        record = self.record(version)
        try:
            data = self.store.read(version, DOCUMENT, record.sha256)
        except FileNotFoundError:
            raise PolicyTampered(f"the document of policy {version} is missing") from None
        except DigestMismatch:
            raise PolicyTampered(f"the document of policy {version} does not match its recorded "
                                 "sha256: it was changed after registration") from None
        try:
            policy = self._validate(data)
        except InvalidPolicy as exc:
            raise PolicyTampered(f"the stored policy {version} no longer validates: "
                                 f"{exc}") from None
        if policy.version != version or policy.sha256 != record.sha256:
            raise PolicyTampered(f"the stored policy {version} is not in canonical form or names "
                                 f"version {policy.version}")
        return policy

    def activate(self, version: str, *, activated_at: datetime | None = None) -> PolicyRecord:
        """Make `version` the one `active()` returns (it must load cleanly first)."""
        policy = self.load(version)
        stamp = _utc(activated_at).strftime(_STAMP)
        pointer = {"version": version, "sha256": policy.sha256, "activated_at": stamp}
        line = json.dumps(pointer, sort_keys=True)
        staging = self.root / f".{ACTIVE}-{secrets.token_hex(8)}"
        staging.write_text(line + "\n", encoding="utf-8")
        os.replace(staging, self.root / ACTIVE)
        with open(self.root / LOG, "a", encoding="utf-8") as log:
            log.write(line + "\n")
        return self.record(version)

    def active_version(self) -> str:
        try:
            pointer = json.loads((self.root / ACTIVE).read_text(encoding="utf-8"))
            version, digest = pointer["version"], pointer["sha256"]
        except FileNotFoundError:
            raise NoActivePolicy(f"no policy has been activated in {self.root}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise PolicyTampered(f"the active-policy pointer is unreadable: {exc!r}") from None
        if self.record(version).sha256 != digest:
            raise PolicyTampered(f"policy {version} changed since it was activated")
        return version

    def active(self) -> Policy:
        """The active policy (tamper-checked)."""
        return self.load(self.active_version())

    def activations(self) -> list[dict[str, str]]:
        """Every activation, oldest first."""
        try:
            lines = (self.root / LOG).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def list(self) -> list[PolicyRecord]:
        """Every registered version, oldest registration first."""
        records = [self.record(v) for v in self.store.versions(_VERSION, with_manifest=True)]
        return sorted(records, key=lambda r: (r.registered_at, r.version))


def _utc(stamp: datetime | None) -> datetime:
    if stamp is None:
        stamp = datetime.now(timezone.utc)
    if not isinstance(stamp, datetime) or stamp.tzinfo is None or stamp.utcoffset() is None:
        raise PolicyRegistryError("registry timestamps must be timezone-aware datetimes")
    return stamp.astimezone(timezone.utc).replace(microsecond=0)
