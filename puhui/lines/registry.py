"""The line policy registry: every line policy version, content-addressed, and the active one.

The same rules as the credit policy registry (`puhui.decision.policy_registry`, whose code this
is with the line policy's validation): a version names one document forever, loading re-hashes
and re-validates it (`PolicyTampered`), activation is a pointer with a log.  Kept in a directory
of its own (default `var/line-policies/`), so a credit policy and a line policy never share a
version name's slot.
"""

from __future__ import annotations

import os
from pathlib import Path

from puhui.decision.policy_registry import PolicyRegistry
from puhui.lines.policy import LinePolicy, load_line_policy

DEFAULT_LINE_ROOT = Path("var") / "line-policies"


class LinePolicyRegistry(PolicyRegistry):
    """Line policies on disk under `root` (default `var/line-policies/`)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_LINE_ROOT) -> None:
        super().__init__(root)

    @staticmethod
    def _validate(document: object) -> LinePolicy:  # type: ignore[override]
        return load_line_policy(document)  # type: ignore[arg-type]
