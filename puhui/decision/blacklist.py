"""A blacklist as data: SHA-256 digests of normalised identity numbers, with a version.

Why digests: the list travels between systems and is stored beside the policies, and a list of
resident IDs in the clear is exactly the personal data PIPL asks us not to spread.  Each entry
is ``sha256("<kind>:<normalised number>")`` in hex, where kind is ``resident_id``, ``uscc`` or
``mobile`` and the number is normalised as the origination checks do (upper-case ``X``, no
spaces, 11-digit mobile without ``+86``), so any way of writing a number finds the same entry.
This is pseudonymisation, not anonymisation: the space of valid IDs is small enough to search,
so the file is still confidential.  The file:

    {"version": "bl-2026-11-01", "description": "...",
     "entries": [{"kind": "resident_id", "sha256": "<64 hex>"}, ...]}

Membership gives the `blacklisted` fact; the version is recorded with every decision.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from puhui.decision.errors import InvalidBlacklist
from puhui.errors import InvalidIdentity
from puhui.parties.identity import normalise_mobile, normalise_resident_id, normalise_uscc
from puhui.parties.applicant import Applicant

KINDS = {"resident_id": normalise_resident_id, "uscc": normalise_uscc, "mobile": normalise_mobile}
_HEX = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def digest(kind: str, number: str) -> str:
    """The entry for one identity number; `InvalidIdentity` if the number is not valid."""
    if kind not in KINDS:
        raise InvalidBlacklist(f"unknown blacklist kind {kind!r}; choose from {sorted(KINDS)}")
    normalised = KINDS[kind](number)
    return hashlib.sha256(f"{kind}:{normalised}".encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Blacklist:
    """A versioned set of (kind, digest) entries."""

    version: str
    entries: frozenset[tuple[str, str]]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not _VERSION.fullmatch(self.version):
            raise InvalidBlacklist(f"blacklist version must match {_VERSION.pattern}, "
                                   f"got {self.version!r}")
        for entry in self.entries:
            if (not isinstance(entry, tuple) or len(entry) != 2 or entry[0] not in KINDS
                    or not isinstance(entry[1], str) or not _HEX.fullmatch(entry[1])):
                raise InvalidBlacklist(f"a blacklist entry is (kind, 64 lower-case hex), "
                                       f"got {entry!r}")

    @classmethod
    def of(cls, version: str, numbers: Iterable[tuple[str, str]],
           description: str = "") -> "Blacklist":
        """Build a list from (kind, number in the clear) pairs, e.g. when preparing the file."""
        try:
            entries = frozenset((kind, digest(kind, number)) for kind, number in numbers)
        except InvalidIdentity as exc:
            raise InvalidBlacklist(f"cannot blacklist an invalid number: {exc}") from None
        return cls(version, entries, description)

    def contains(self, kind: str, number: str) -> bool:
        try:
            return (kind, digest(kind, number)) in self.entries
        except InvalidIdentity:
            return False

    def matches(self, applicant: Applicant) -> list[str]:
        """Which of the applicant's numbers are listed, as roles (``owner resident_id``...)."""
        numbers = [("owner", "resident_id", applicant.owner.resident_id),
                   ("owner", "mobile", applicant.owner.mobile)]
        if applicant.uscc:
            numbers.append(("business", "uscc", applicant.uscc))
        for k, guarantor in enumerate(applicant.guarantors, start=1):
            numbers += [(f"guarantor {k}", "resident_id", guarantor.resident_id),
                        (f"guarantor {k}", "mobile", guarantor.mobile)]
        return [f"{role} {kind}" for role, kind, number in numbers if self.contains(kind, number)]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "description": self.description,
                "entries": [{"kind": k, "sha256": h} for k, h in sorted(self.entries)]}

    @classmethod
    def from_dict(cls, doc: Any) -> "Blacklist":
        if not isinstance(doc, Mapping):
            raise InvalidBlacklist("a blacklist is a JSON object")
        unknown = set(doc) - {"version", "description", "entries"}
        if unknown:
            raise InvalidBlacklist(f"unknown blacklist fields {sorted(unknown)}")
        entries = doc.get("entries")
        if not isinstance(entries, list):
            raise InvalidBlacklist("a blacklist needs an `entries` list")
        pairs = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or set(entry) != {"kind", "sha256"}:
                raise InvalidBlacklist(f"entries[{i}] must be {{\"kind\", \"sha256\"}}")
            pairs.append((entry["kind"], entry["sha256"]))
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise InvalidBlacklist("the blacklist description must be text")
        return cls(doc.get("version"), frozenset(pairs), description)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Blacklist":
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidBlacklist(f"no blacklist file at {path}") from None
        except ValueError as exc:
            raise InvalidBlacklist(f"{path} is not JSON: {exc}") from None
        return cls.from_dict(doc)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
