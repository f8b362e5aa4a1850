"""Every error the decision engine raises on purpose, as a subtree of `puhui.errors.PuhuiError`.

Why a subtree of its own: a policy author, the CLI and the workflow must tell a badly written
policy, an unknown or tampered policy version and an unreadable decision record apart without
parsing messages.  Evaluating a policy never raises for bad *applicant data* (missing or
malformed facts refer the application instead); these errors are about the engine's own inputs.

    PuhuiError
    └── DecisionError
        ├── InvalidPolicy             a policy document that fails validation (ValueError)
        ├── InvalidFacts              facts not a mapping or frame, a bad product (ValueError)
        ├── InvalidBlacklist          a blacklist file that cannot be read (ValueError)
        ├── InvalidScorer             a model unfit to be champion or challenger (ValueError)
        ├── InvalidDecisionRecord     a stored decision record that cannot be replayed (ValueError)
        └── PolicyRegistryError
            ├── UnknownPolicyVersion  no policy with that version in the registry (LookupError)
            ├── PolicyVersionConflict the version is registered with different content
            ├── NoActivePolicy        nothing has been activated yet
            └── PolicyTampered        stored content no longer matches its recorded sha256
"""

from __future__ import annotations

from puhui.errors import PuhuiError


class DecisionError(PuhuiError):
    """Root of every deliberate decision-engine error."""


class InvalidPolicy(DecisionError, ValueError):
    """The message lists every problem found, each prefixed by where it is in the document."""


class InvalidFacts(DecisionError, ValueError):
    pass


class InvalidBlacklist(DecisionError, ValueError):
    pass


class InvalidScorer(DecisionError, ValueError):
    pass


class InvalidDecisionRecord(DecisionError, ValueError):
    pass


class PolicyRegistryError(DecisionError):
    pass


class UnknownPolicyVersion(PolicyRegistryError, LookupError):
    pass


class PolicyVersionConflict(PolicyRegistryError):
    """A version names one document forever: a changed policy needs a new version."""


class NoActivePolicy(PolicyRegistryError, LookupError):
    pass


class PolicyTampered(PolicyRegistryError):
    pass
