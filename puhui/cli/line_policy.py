"""`puhui line-policy`: validate, register, activate and inspect line policies.

Why a command of its own beside `puhui policy`: a line policy (docs/line-policy.md) is a
different document, kept in its own registry (`var/line-policies`), but changed the same way:
a reviewed file, validated, registered as a new version and activated; re-evaluations apply the
active version from then on (the shipped one while none is registered, which `show` prints
then).  Exit codes: 0 done, 1 refused.  The commands are those of every registry
(`cli/registry_commands.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from puhui.cli.registry_commands import RegistryKind, registry_app


def _read(path: Path) -> Any:
    from puhui.lines.policy import read_line_policy

    return read_line_policy(path)


def _registry(root: Path) -> Any:
    from puhui.lines.registry import LinePolicyRegistry

    return LinePolicyRegistry(root)


def _describe(policy: Any) -> str:
    return (f"rules {', '.join(policy.codes)}; {policy.min_days_between_changes} days between "
            "changes")


def _shipped() -> Any:
    from puhui.lines.policy import default_line_policy

    return default_line_policy()


LINE_POLICY = RegistryKind("line policy", Path("var/line-policies"), _read, _registry,
                           _describe, fallback=_shipped)
line_policy_app = registry_app(LINE_POLICY, "Line policies (re-evaluation of credit lines): "
                                            "validate, register, activate, list, show.")
