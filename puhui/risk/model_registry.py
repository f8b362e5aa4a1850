"""A file-based model registry: every trained model with the evidence needed to trust it.

Why: a credit decision must name the model that made it (`Decision.model_version`), and that
model must be the one that was validated.  Each version is a directory holding the artefact
exactly as the model serialised it and a manifest recording its sha256, the fingerprint of the
data it was trained on, its metrics and parameters and when it was made (UTC).  Loading
re-hashes the artefact and refuses one that does not match (`ArtefactTampered`).  The hash
detects an edited or corrupted artefact; it does not stop someone who rewrites the manifest as
well, which needs signing or an append-only store (the ledger's attestation could carry it).
The directory mechanics are the shared `puhui.artefacts.ArtefactStore` (policies use it too).

    var/models/
      german-scorecard-20260301T120000Z-1a2b3c4d/
        manifest.json     {"version", "name", "format", "artefact", "sha256", "size",
                           "data_fingerprint", "metrics", "params", "created_at"}
        model.json        the artefact (Scorecard / GradientBoostingModel `to_bytes()`)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import pandas as pd

from puhui.artefacts import ArtefactStore, DigestMismatch, manifest_bytes, sha256
from puhui.risk.errors import (ArtefactError, ArtefactTampered, RegistryError,
                               UnknownModelVersion)
from puhui.risk.gbm import FORMAT as GBM_FORMAT
from puhui.risk.gbm import GradientBoostingModel
from puhui.risk.scorecard import FORMAT as SCORECARD_FORMAT
from puhui.risk.scorecard import Scorecard

STABILITY_FORMAT = "puhui.stability/1"  # a monitor's PSI reference, stored beside its models


def _stability_reference(artefact: bytes) -> Any:
    from puhui.risk.monitoring.stability import StabilityReference
    return StabilityReference.from_bytes(artefact)


DEFAULT_ROOT = Path("var") / "models"
ARTEFACT, MANIFEST = "model.json", "manifest.json"
LOADERS: dict[str, Callable[[bytes], Any]] = {SCORECARD_FORMAT: Scorecard.from_bytes,
                                              GBM_FORMAT: GradientBoostingModel.from_bytes,
                                              STABILITY_FORMAT: _stability_reference}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}-\d{8}T\d{6}Z-[0-9a-f]{8}")


class Serialisable(Protocol):
    def to_bytes(self) -> bytes: ...


def data_fingerprint(X: pd.DataFrame, y: Any = None) -> str:
    """sha256 of the training data as canonical CSV (columns in order, no index, `\\n` line
    ends, the target last as `target`): the same rows in the same order, the same fingerprint."""
    frame = X.reset_index(drop=True).copy()
    if y is not None:
        frame["target"] = pd.Series(y).reset_index(drop=True)
    return sha256(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (for recording which data file was read)."""
    return sha256(Path(path).read_bytes())


@dataclass(frozen=True)
class ModelRecord:
    """A registered model's manifest."""

    version: str
    name: str
    format: str
    artefact: str
    sha256: str
    size: int
    data_fingerprint: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelRecord":
        try:
            created = datetime.strptime(d["created_at"], "%Y-%m-%dT%H:%M:%SZ")
            return cls(str(d["version"]), str(d["name"]), str(d["format"]),
                       str(d["artefact"]), str(d["sha256"]), int(d["size"]),
                       str(d["data_fingerprint"]), dict(d["metrics"]), dict(d["params"]),
                       created.replace(tzinfo=timezone.utc))
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"malformed model manifest: {exc!r}") from None


class ModelRegistry:
    """Models on disk under `root` (default `var/models/`, created when first written)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self.store = ArtefactStore(self.root)

    def register(self, name: str, model: Serialisable, *, data_fingerprint: str,
                 metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None,
                 created_at: datetime | None = None) -> ModelRecord:
        """Store a fitted model as a new version; returns its record (version id included)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise RegistryError(f"model name must match {_NAME.pattern}, got {name!r}")
        if created_at is None:
            created_at = datetime.now(timezone.utc)
        if created_at.tzinfo is None or created_at.utcoffset() is None:
            raise RegistryError("created_at must be timezone-aware")
        created_at = created_at.astimezone(timezone.utc).replace(microsecond=0)
        artefact = model.to_bytes()
        digest = sha256(artefact)
        version = f"{name}-{created_at:%Y%m%dT%H%M%SZ}-{digest[:8]}"
        record = ModelRecord(version, name, _format_of(artefact), ARTEFACT, digest,
                             len(artefact), data_fingerprint, dict(metrics),
                             dict(params or {}), created_at)
        manifest = manifest_bytes(record.to_dict(), allow_nan=False)
        try:
            self.store.write(version, {ARTEFACT: artefact, MANIFEST: manifest})
        except FileExistsError:
            raise RegistryError(f"model version {version} already exists") from None
        return record

    def record(self, version: str) -> ModelRecord:
        """The manifest of `version` (no hash check: see `verify`)."""
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise UnknownModelVersion(f"no model version {version!r}")
        path = self.root / version / MANIFEST
        try:
            doc = self.store.manifest(version, MANIFEST)
        except FileNotFoundError:
            raise UnknownModelVersion(f"no model version {version!r} in {self.root}") from None
        except ValueError as exc:
            raise RegistryError(f"{path} is not JSON: {exc}") from None
        record = ModelRecord.from_dict(doc)
        if record.version != version or record.artefact != ARTEFACT:
            raise RegistryError(f"{path} does not describe version {version}")
        return record

    def verify(self, version: str) -> tuple[ModelRecord, bytes]:
        """The record and artefact bytes, after checking the bytes hash to the recorded sha256."""
        record = self.record(version)
        try:
            artefact = self.store.read(version, record.artefact, record.sha256)
        except FileNotFoundError:
            raise ArtefactTampered(f"the artefact of {version} is missing") from None
        except DigestMismatch:
            raise ArtefactTampered(f"the artefact of {version} does not match its recorded "
                                   "sha256: it was changed after registration") from None
        return record, artefact

    def load(self, version: str) -> Any:
        """The fitted model of `version`, refused if its artefact was altered."""
        record, artefact = self.verify(version)
        if _format_of(artefact) != record.format or record.format not in LOADERS:
            raise ArtefactError(f"{version}: artefact format {record.format!r} is not loadable")
        return LOADERS[record.format](artefact)

    def list(self, name: str | None = None) -> list[ModelRecord]:
        """Every registered version (of `name`, if given), oldest first."""
        records = [self.record(v) for v in self.store.versions(_VERSION)]
        records = [r for r in records if name is None or r.name == name]
        return sorted(records, key=lambda r: (r.created_at, r.version))

    def latest(self, name: str) -> ModelRecord:
        """The most recently created version of `name`."""
        records = self.list(name)
        if not records:
            raise UnknownModelVersion(f"no versions of model {name!r} in {self.root}")
        return records[-1]


def _format_of(artefact: bytes) -> str:
    try:
        doc = json.loads(artefact)
    except ValueError as exc:
        raise ArtefactError(f"model artefact is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("format"), str):
        raise ArtefactError("model artefact has no format")
    return doc["format"]
