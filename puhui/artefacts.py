"""The content-addressed artefact store behind the model and the policy registries.

Why one store: a decision names the model and the policy it was made under, and replaying it must
find exactly those bytes.  Both registries keep each version as a directory holding the artefact
exactly as written and a JSON manifest recording its sha256; a version appears whole or not at
all (written in a staging directory, then renamed), and reading re-hashes the bytes against the
manifest.  What differs is what the bytes are and how they are validated, which stays with the
owner: `puhui.risk.model_registry` (fitted models, their metrics and training-data fingerprint)
and `puhui.decision.policy_registry` (policy documents, activation).

    <root>/
      <version>/
        manifest.json     the record of the version (its "sha256" is the artefact's)
        <artefact>        the bytes (model.json, policy.json)

The hash detects an edited or corrupted artefact; it does not stop someone who rewrites the
manifest as well, which needs signing or an append-only store.  This module raises only Python's
own errors (`FileNotFoundError`, `FileExistsError`, `ValueError`, `DigestMismatch`); each
registry turns them into its own typed errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Mapping

MANIFEST = "manifest.json"


class DigestMismatch(ValueError):
    """Stored bytes that no longer hash to the sha256 their manifest records."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtefactStore:
    """Versions on disk under `root` (created when first written)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def exists(self, version: str) -> bool:
        return (self.root / version).exists()

    def write(self, version: str, files: Mapping[str, bytes]) -> None:
        """Store `files` as `version`, whole or not at all; `FileExistsError` when the version
        is there already (before we started or written meanwhile)."""
        final = self.root / version
        if final.exists():
            raise FileExistsError(str(final))
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{secrets.token_hex(8)}"
        staging.mkdir()
        for name, data in files.items():
            (staging / name).write_bytes(data)
        try:
            staging.rename(final)  # the version appears whole or not at all
        except OSError:
            for p in staging.iterdir():
                p.unlink()
            staging.rmdir()
            if final.exists():
                raise FileExistsError(str(final)) from None
            raise

    def manifest(self, version: str, name: str = MANIFEST) -> Any:
        """The parsed manifest of `version`: `FileNotFoundError` when there is none, `ValueError`
        when it is not JSON."""
        return json.loads((self.root / version / name).read_text(encoding="utf-8"))

    def read(self, version: str, name: str, digest: str) -> bytes:
        """The bytes of `version`'s artefact `name`, checked against `digest`:
        `FileNotFoundError` when missing, `DigestMismatch` when changed."""
        data = (self.root / version / name).read_bytes()
        if sha256(data) != digest:
            raise DigestMismatch(f"{version}/{name} does not match its recorded sha256")
        return data

    def versions(self, pattern: re.Pattern[str], *, with_manifest: bool = False) -> list[str]:
        """The names of the version directories matching `pattern` (unordered)."""
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir()
                if p.is_dir() and pattern.fullmatch(p.name)
                and (not with_manifest or (p / MANIFEST).exists())]


def manifest_bytes(record: Mapping[str, Any], *, allow_nan: bool = True) -> bytes:
    """A manifest as written: sorted keys, two-space indent, a final newline."""
    return (json.dumps(record, sort_keys=True, indent=2, allow_nan=allow_nan)
            + "\n").encode("utf-8")
