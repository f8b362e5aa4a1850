"""The collections policy registry: every collections policy version, content-addressed, and
the active one.

The same rules as the credit and line policy registries (`puhui.decision.policy_registry`,
whose code this is with the collections policy's validation): a version names one document
forever, loading re-hashes and re-validates it (`PolicyTampered`), activation is a pointer with
a log, so an auditor can be shown which rules were active from when.  Kept in a directory of
its own (default `var/collections-policies/`).
"""

from __future__ import annotations

import os
from pathlib import Path

from puhui.collections.policy import (CollectionsPolicy, load_collections_policy,
                                      shipped_collections_policy)
from puhui.decision.errors import NoActivePolicy
from puhui.decision.policy_registry import PolicyRegistry

DEFAULT_COLLECTIONS_ROOT = Path("var") / "collections-policies"


class CollectionsPolicyRegistry(PolicyRegistry):
    """Collections policies on disk under `root` (default `var/collections-policies/`)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_COLLECTIONS_ROOT) -> None:
        super().__init__(root)

    @staticmethod
    def _validate(document: object) -> CollectionsPolicy:  # type: ignore[override]
        return load_collections_policy(document)  # type: ignore[arg-type]

    def active_or_shipped(self) -> CollectionsPolicy:
        """The active version, or the shipped document while none has been activated (a
        tampered registry is refused, never passed over)."""
        try:
            return self.active()  # type: ignore[return-value]
        except NoActivePolicy:
            return shipped_collections_policy()
