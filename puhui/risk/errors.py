"""Every error the risk engine raises on purpose, as a subtree of `puhui.errors.PuhuiError`.

Why a subtree of its own: training jobs, the registry and (later) the decider can tell bad data,
a bad setting, a model used too early and a tampered artefact apart without parsing messages.
Each class also subclasses the built-in (or scikit-learn) exception a Python caller would expect,
so `except ValueError` and scikit-learn's own `NotFittedError` checks keep working.

    PuhuiError
    └── RiskError
        ├── RiskDataError            training or scoring data that cannot be used (ValueError)
        │   ├── DatasetMissing       the data file is not where it was looked for (FileNotFoundError)
        │   └── ProtectedAttributeUsed  a protected attribute reached a model's inputs
        ├── InvalidParameter         a model setting out of range or of the wrong type (ValueError)
        ├── NotFittedError           predicting, scoring or saving before `fit`
        │                            (also sklearn.exceptions.NotFittedError)
        ├── ArtefactError            a model artefact that is malformed or of an unknown format
        └── RegistryError
            ├── UnknownModelVersion  no model with that version id in the registry (LookupError)
            └── ArtefactTampered     the artefact's sha256 differs from the one recorded with it
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFitted

from puhui.errors import PuhuiError


class RiskError(PuhuiError):
    """Root of every deliberate risk-engine error."""


class RiskDataError(RiskError, ValueError):
    pass


class DatasetMissing(RiskDataError, FileNotFoundError):
    pass


class ProtectedAttributeUsed(RiskDataError):
    """A protected attribute (sex, marital status, age, nationality...) is among a model's inputs."""


class InvalidParameter(RiskError, ValueError):
    pass


class NotFittedError(RiskError, _SklearnNotFitted):
    pass


class ArtefactError(RiskError, ValueError):
    pass


class RegistryError(RiskError):
    pass


class UnknownModelVersion(RegistryError, LookupError):
    pass


class ArtefactTampered(RegistryError):
    pass
