"""`puhui policy`: validate, register, activate and inspect credit policies.

Why a command: a policy change is a reviewed document, not a deployment.  The risk owner
validates the file, registers it (a new version, content-addressed), and activates it; deciders
built from the registry's active policy apply it from then on.  Exit codes: 0 done, 1 refused
(an invalid document, an unknown or tampered version, a version reused with other content).
The commands are those of every registry (`cli/registry_commands.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from puhui.cli.registry_commands import RegistryKind, registry_app


def _read(path: Path) -> Any:
    from puhui.decision.policy import read_policy

    return read_policy(path)


def _registry(root: Path) -> Any:
    from puhui.decision.policy_registry import PolicyRegistry

    return PolicyRegistry(root)


def _describe(policy: Any) -> str:
    return f"{len(policy.knockouts)} knock-outs, grades {', '.join(policy.grade_names)}"


CREDIT_POLICY = RegistryKind("policy", Path("var/policies"), _read, _registry, _describe)
policy_app = registry_app(CREDIT_POLICY, "Credit policies: validate, register, activate, list, "
                                         "show.")
