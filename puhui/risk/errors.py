"""Every error the risk engine raises on purpose, as a subtree of `puhui.errors.PuhuiError`.

Why a subtree of its own: training jobs, the registry and (later) the decider can tell bad data,
a bad setting, a model used too early and a tampered artefact apart without parsing messages.
Each class also subclasses the built-in (or scikit-learn) exception a Python caller would expect,
so `except ValueError` and scikit-learn's own `NotFittedError` checks keep working.

    PuhuiError
    └── RiskError
        ├── RiskDataError            training or scoring data that cannot be used (ValueError)
        │   ├── DatasetMissing       the data file is not where it was looked for (FileNotFoundError)
        │   ├── ProtectedAttributeUsed  a protected attribute reached a model's inputs
        │   ├── InvalidRecord        a connector payload or one of its records fails validation
        │   ├── PayloadTampered      a stored payload no longer gives back the bytes received
        │   ├── SourceUnavailable    a data provider holds nothing for this business (LookupError)
        │   └── SourceFailed         a data provider could not be asked or answered garbage
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


class InvalidRecord(RiskDataError):
    """A business-data payload that fails validation.

    `source` is the data scope, `index` the record's position in the payload (None for the
    envelope: business_id, as_of, records) and `field` the dotted path inside the record, so an
    operator can find the bad value without re-running the validation.
    """

    def __init__(self, source: str, index: int | None, field: str, problem: str) -> None:
        self.source, self.index, self.field, self.problem = source, index, field, problem
        where = "payload" if index is None else f"record {index}"
        super().__init__(f"{source} {where}, field {field or '(record)'}: {problem}")


class PayloadTampered(RiskDataError):
    """A stored data-source payload that does not unpack, or whose bytes no longer match the
    SHA-256 recorded when it was received: it was altered after it was stored."""


class SourceUnavailable(RiskDataError, LookupError):
    """The provider behind a connector has no data at all for this business."""


class SourceFailed(RiskDataError):
    """A data provider that could not be asked (no connection, too slow, a 5xx, its circuit
    open) or that answered something unusable (a 4xx, a body that is not JSON).

    `source` names it (the data scope, and where it was asked), `problem` says what happened;
    `transient` failures are worth trying again, and `attempts` counts the tries made."""

    def __init__(self, source: str, problem: str, *, transient: bool,
                 attempts: int = 1) -> None:
        self.source, self.problem = source, problem
        self.transient, self.attempts = transient, attempts
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{source}: {problem}{tries}")


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
