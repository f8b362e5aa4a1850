"""Local validation of the identity numbers an application carries.

Why local first: a check digit, an impossible birth date or a landline given as a mobile number
are caught for free before any paid verification service is called, and each check is recorded as
an `IdentityCheck` that shows the number only masked (PIPL data minimisation) and says which rule
it applied.  The rules come from python-stdnum (GB 11643 resident IDs, GB 32100 unified social
credit codes, the ISO/IEC 7812 Luhn digit of bank cards) and phonenumbers (mainland mobiles).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Callable, Mapping

import phonenumbers
from stdnum import luhn, numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.util import clean, isdigits

from puhui.calendar import utcnow
from puhui.errors import DateOrderError, InvalidApplication, InvalidIdentity
from puhui.parties import records as rec

RESIDENT_ID_SOURCE = "local:GB 11643-1999 check digit"
USCC_SOURCE = "local:GB 32100-2015 check digit"
BANK_CARD_SOURCE = "local:ISO/IEC 7812 Luhn"
MOBILE_SOURCE = "local:phonenumbers CN mobile"


class IdentityKind(str, enum.Enum):
    RESIDENT_ID = "resident_id"  # 居民身份证号码
    USCC = "uscc"                # 统一社会信用代码
    BANK_CARD = "bank_card"
    MOBILE = "mobile"


@dataclass(frozen=True, slots=True)
class IdentityCheck:
    """The recorded outcome of one identity check; `subject` is masked, never the full number."""

    kind: IdentityKind
    subject: str
    passed: bool
    reason: str
    source: str
    checked_at: datetime
    details: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", IdentityKind(self.kind))
        except ValueError:
            raise InvalidApplication(f"unknown identity kind {self.kind!r}") from None
        if not isinstance(self.passed, bool):
            raise InvalidApplication(f"passed must be a bool, got {self.passed!r}")
        for name in ("subject", "reason", "source"):
            if not isinstance(getattr(self, name), str):
                raise InvalidApplication(f"identity check {name} must be text")
        object.__setattr__(self, "checked_at", rec.utc(self.checked_at, "checked_at"))
        if not isinstance(self.details, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.details.items()):
            raise InvalidApplication("identity check details must map text to text")
        object.__setattr__(self, "details", dict(self.details))

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "subject": self.subject, "passed": self.passed,
                "reason": self.reason, "source": self.source,
                "checked_at": self.checked_at.isoformat(), "details": dict(self.details)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "IdentityCheck":
        what = "identity check"
        rec.mapping(d, what, ("kind", "subject", "passed", "reason", "source", "checked_at"),
                    ("details",))
        return cls(rec.typed(d, "kind", str, what), rec.typed(d, "subject", str, what),
                   rec.typed(d, "passed", bool, what), rec.typed(d, "reason", str, what),
                   rec.typed(d, "source", str, what), rec.parse_utc(d["checked_at"], "checked_at"),
                   dict(d.get("details") or {}))


# -- normalisation: the canonical form, or InvalidIdentity saying what is wrong ------------------

def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentity(f"a {what} must be text, got {type(value).__name__}")
    return value


#: stdnum's birth place by (region code, birth year): a few thousand regions, each looked up in
#: stdnum's database by a walk of its prefix tree that costs more than the rest of the check.
_BIRTH_PLACES: dict[tuple[str, int], dict[str, str]] = {}


@lru_cache(maxsize=8_192)
def _region(code: str) -> dict[str, str]:
    """What stdnum's database of administrative divisions says of a 6-digit region code."""
    return {k: v for _, props in numdb.get("cn/loc").info(code) for k, v in props.items()}


def _compact_id(number: str) -> str:
    """Upper case with spaces removed (stdnum's own compact keeps inner spaces)."""
    return clean(number, " ").upper().strip()


def _resident_id(number: object) -> tuple[str, dict[str, str]]:
    """The normalised 18-character ID and what it encodes (birth date and place)."""
    value, details = _decoded_resident_id(_compact_id(_text(number, "resident ID")))
    return value, dict(details)


@lru_cache(maxsize=16_384)
def _decoded_resident_id(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`_resident_id` of a compacted ID, remembered: the region lookups in stdnum's database cost
    most of an application's identity checks, and the same owner's ID is checked when the
    applicant is registered, loaded and verified (a refused ID raises and is not remembered)."""
    if len(value) == 15 and isdigits(value):
        raise InvalidIdentity("15-digit first-generation resident IDs are not accepted; "
                              "give the 18-character ID")
    if len(value) != 18:
        raise InvalidIdentity(f"a resident ID has 18 characters, got {len(value)}")
    if not isdigits(value[:17]):
        raise InvalidIdentity("the first 17 characters of a resident ID must be digits")
    if not (isdigits(value[17]) or value[17] == "X"):
        raise InvalidIdentity("the last character of a resident ID must be a digit or X")
    if value[17] != ric.calc_check_digit(value):
        raise InvalidIdentity("resident ID check digit is wrong")
    try:
        birth = ric.get_birth_date(value)
    except ValidationError:
        raise InvalidIdentity(f"resident ID birth date {value[6:14]} is not a real date") from None
    region = value[:6]
    if "county" not in _region(region):
        raise InvalidIdentity(f"resident ID region code {region} is not a known county-level "
                              "administrative division")
    place = _BIRTH_PLACES.get((region, birth.year))
    if place is None:
        try:
            place = ric.get_birth_place(value)  # depends on the region and birth year only
        except ValidationError:
            raise InvalidIdentity(f"resident ID region code {region} was not in use in "
                                  f"{birth.year}") from None
        if len(_BIRTH_PLACES) < 100_000:
            _BIRTH_PLACES[(region, birth.year)] = place
    details = {"birth_date": birth.isoformat(), "region_code": region}
    details.update({k: place[k] for k in ("province", "county") if k in place})
    return value, tuple(details.items())


def normalise_resident_id(number: str) -> str:
    """The 18-character resident ID (upper-case X); raises `InvalidIdentity` saying why not."""
    return _resident_id(number)[0]


def normalise_uscc(code: str) -> str:
    """The 18-character unified social credit code; raises `InvalidIdentity` saying why not."""
    value = uscc.compact(_text(code, "unified social credit code"))
    if len(value) != 18:
        raise InvalidIdentity(f"a unified social credit code has 18 characters, got {len(value)}")
    try:
        uscc.validate(value)
    except InvalidChecksum:
        raise InvalidIdentity("unified social credit code check character is wrong") from None
    except ValidationError:
        raise InvalidIdentity("a unified social credit code is 8 digits (authority, type, region) "
                              "then 10 characters from 0-9 and A-Y without I, O, S, V, Z") from None
    return value


def normalise_bank_card(number: str) -> str:
    """The card number as 16-19 digits with a valid Luhn digit; raises `InvalidIdentity`."""
    value = clean(_text(number, "bank card number"), " -").strip()
    if not isdigits(value):
        raise InvalidIdentity("a bank card number may contain only digits, spaces and hyphens")
    if not 16 <= len(value) <= 19:
        raise InvalidIdentity(f"a bank card number has 16 to 19 digits, got {len(value)}")
    if not luhn.is_valid(value):
        raise InvalidIdentity("bank card number fails the Luhn check digit")
    return value


def normalise_mobile(number: str) -> str:
    """The 11-digit mainland China mobile number without +86; raises `InvalidIdentity`."""
    return _national_mobile(_text(number, "mobile number"))


@lru_cache(maxsize=16_384)
def _national_mobile(raw: str) -> str:
    """`normalise_mobile` of text, remembered: parsing with phonenumbers' metadata costs more
    than the rest of an applicant's checks, and the same number is parsed at registration, at
    every load and at verification (a refused number raises and is not remembered)."""
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {exc}") from None
    if parsed.country_code != 86:
        raise InvalidIdentity(f"not a mainland China number (country code +{parsed.country_code})")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentity("not a valid mainland China phone number")
    kind = phonenumbers.number_type(parsed)
    if kind != phonenumbers.PhoneNumberType.MOBILE:
        label = "a fixed-line" if kind == phonenumbers.PhoneNumberType.FIXED_LINE else "not a"
        raise InvalidIdentity(f"{label} number, not a mobile number")
    national = str(parsed.national_number)
    if len(national) != 11:  # pragma: no cover - phonenumbers' CN mobile metadata is 11 digits
        raise InvalidIdentity("a mainland China mobile number has 11 digits")
    return national


def mask(value: str, keep_start: int = 6, keep_end: int = 4) -> str:
    """`value` with all but its first `keep_start` and last `keep_end` characters starred;
    a value too short to keep both ends is starred entirely, so it is never shown in full."""
    if keep_start < 0 or keep_end < 0:
        raise ValueError("keep_start and keep_end cannot be negative")
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + \
        value[len(value) - keep_end:]


def age_on(birth_date: date, on: date) -> int:
    """Whole years lived on `on`; someone born on 29 February turns a year older on 1 March in
    a common year."""
    if on < birth_date:
        raise DateOrderError(f"{on} is before the birth date {birth_date}")
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


# -- checks: never raise for a bad number, record why it failed --------------------------------

def _masked(value: object, compact: Callable[[str], str], keep_start: int = 6) -> str:
    if not isinstance(value, str):
        return ""
    try:
        return mask(compact(value), keep_start)
    except Exception:  # noqa: BLE001 - a subject that cannot even be compacted is shown starred
        return mask(value, keep_start)


def _check(kind: IdentityKind, subject: str, source: str, checked_at: datetime | None,
           problem: str | None, details: dict[str, str] | None = None) -> IdentityCheck:
    return IdentityCheck(kind, subject, problem is None, problem or "ok", source,
                         utcnow() if checked_at is None else checked_at, details or {})


def check_resident_id(number: str, *, on: date, checked_at: datetime | None = None
                      ) -> IdentityCheck:
    """Check digit, birth date (real and not after `on`) and region valid in the birth year;
    details carry birth_date, region_code, province, county and age (whole years on `on`)."""
    on = rec.day(on, "on")
    kind = IdentityKind.RESIDENT_ID
    try:
        value, details = _resident_id(number)
    except InvalidIdentity as exc:
        return _check(kind, _masked(number, _compact_id), RESIDENT_ID_SOURCE, checked_at, str(exc))
    birth = date.fromisoformat(details["birth_date"])
    if birth > on:
        return _check(kind, mask(value), RESIDENT_ID_SOURCE, checked_at,
                      f"resident ID birth date {birth} is after {on}", details)
    details["age"] = str(age_on(birth, on))
    return _check(kind, mask(value), RESIDENT_ID_SOURCE, checked_at, None, details)


def check_uscc(code: str, *, checked_at: datetime | None = None) -> IdentityCheck:
    """GB 32100 format and check character; details carry entity_type and region_code."""
    try:
        value = normalise_uscc(code)
    except InvalidIdentity as exc:
        return _check(IdentityKind.USCC, _masked(code, uscc.compact), USCC_SOURCE, checked_at,
                      str(exc))
    return _check(IdentityKind.USCC, mask(value), USCC_SOURCE, checked_at, None,
                  {"entity_type": value[:2], "region_code": value[2:8]})


def check_bank_card(number: str, *, checked_at: datetime | None = None) -> IdentityCheck:
    """16-19 digits and the Luhn digit; details carry the BIN (first 6 digits)."""
    try:
        value = normalise_bank_card(number)
    except InvalidIdentity as exc:
        return _check(IdentityKind.BANK_CARD, _masked(number, lambda s: clean(s, " -").strip()),
                      BANK_CARD_SOURCE, checked_at, str(exc))
    return _check(IdentityKind.BANK_CARD, mask(value), BANK_CARD_SOURCE, checked_at, None,
                  {"bin": value[:6]})


def check_mobile(number: str, *, checked_at: datetime | None = None) -> IdentityCheck:
    """A valid mainland China number of type MOBILE; the subject keeps 3 + 4 digits."""
    try:
        value = normalise_mobile(number)
    except InvalidIdentity as exc:
        return _check(IdentityKind.MOBILE, _masked(number, lambda s: clean(s, " -+()").strip(), 3),
                      MOBILE_SOURCE, checked_at, str(exc))
    return _check(IdentityKind.MOBILE, mask(value, 3), MOBILE_SOURCE, checked_at, None)
