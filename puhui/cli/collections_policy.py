"""`puhui collections-policy`: validate, register, activate and inspect collections policies.

Why a command of its own: a collections policy (docs/collections.md, "The collections policy")
is a different document in its own registry (`var/collections-policies`, the one the platform
reads, `PUHUI_COLLECTIONS_POLICIES` to move it), changed the way every policy is: a reviewed
file, validated, registered as a new version and activated; the daily review, contact attempts
and promises follow the active version from then on (the shipped one while none is active,
which `show` prints then).  Exit codes: 0 done, 1 refused.  The commands are those of every
registry (`cli/registry_commands.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from puhui.cli.registry_commands import RegistryKind, registry_app


def _read(path: Path) -> Any:
    from puhui.collections.policy import read_collections_policy

    return read_collections_policy(path)


def _registry(root: Path) -> Any:
    from puhui.collections.registry import CollectionsPolicyRegistry

    return CollectionsPolicyRegistry(root)


def _describe(policy: Any) -> str:
    return policy.describe()


def _shipped() -> Any:
    from puhui.collections.policy import shipped_collections_policy

    return shipped_collections_policy()


COLLECTIONS_POLICY = RegistryKind("collections policy", Path("var/collections-policies"), _read,
                                  _registry, _describe, fallback=_shipped)
collections_policy_app = registry_app(
    COLLECTIONS_POLICY, "Collections policies (stages per bucket, contact rules, write-off, "
                        "promises): validate, register, activate, list, show.")
