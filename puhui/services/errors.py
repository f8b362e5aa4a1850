"""Errors of the platform layer, beside the domain tree in `puhui.errors`.

    PuhuiError
    └── PlatformError
        ├── NotFound              no such applicant, application, offer, contract or loan
        │   └── PersonalDataErased  the personal data asked for was erased (PIPL art. 47)
        ├── AuthenticationFailed  missing, malformed, unknown or revoked API key
        ├── AccessDenied          the key's role or scope does not allow this
        ├── AlreadyDone           the operation happened before in a different way (paid out)
        ├── IdempotencyKeyReused  an Idempotency-Key replayed with a different request
        └── InvalidRequest        the request itself is malformed (an unknown scope or role):
                                  the caller may do this, just not with these values
"""

from __future__ import annotations

from puhui.errors import PuhuiError


class PlatformError(PuhuiError):
    pass


class NotFound(PlatformError):
    pass


class PersonalDataErased(NotFound):
    pass


class AuthenticationFailed(PlatformError):
    pass


class AccessDenied(PlatformError):
    pass


class AlreadyDone(PlatformError):
    pass


class IdempotencyKeyReused(PlatformError):
    pass


class InvalidRequest(PlatformError, ValueError):
    pass
