"""Valid sample identities and applicants for the origination tests.

Numbers are made valid by computing their check digits with python-stdnum, so the tests do not
depend on a real person's data; a few fixed numbers verified once are kept beside them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric, uscc

from puhui.parties.applicant import Applicant, ApplicantKind, BankAccount, Person

UTC = timezone.utc
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ON = date(2026, 5, 1)

# verified with stdnum.cn.ric / stdnum.cn.uscc / stdnum.luhn
KNOWN_RESIDENT_IDS = ("110101198503071235", "11010519491231002X", "360426199101010071",
                      "44030519900101123X")
KNOWN_USCCS = ("91110000600037341L",)
KNOWN_CARDS = ("4111111111111111", "6222021234567890128")
KNOWN_MOBILES = ("13800138000", "19912345678")


def resident_id(birth: date | str = "19850307", region: str = "110101", seq: str = "123") -> str:
    """An 18-character resident ID whose check digit is right (birth as YYYYMMDD or a date)."""
    body = region + (birth.strftime("%Y%m%d") if isinstance(birth, date) else birth) + seq
    return body + ric.calc_check_digit(body + "0")


def uscc_code(body: str = "91110000600037341") -> str:
    return body + uscc.calc_check_digit(body)


def card(body: str = "622202123456789012") -> str:
    return body + luhn.calc_check_digit(body)


def person(name: str = "张三", birth: date | str = "19850307", seq: str = "123",
           mobile: str = "13800138000") -> Person:
    return Person(name, resident_id(birth, seq=seq), mobile)


def shop(**changes) -> Applicant:
    """An individual business that the default policy approves (grade B, five years old)."""
    values = dict(kind=ApplicantKind.INDIVIDUAL_BUSINESS, business_name="张三小吃店",
                  owner=person(), industry="catering", region_code="110101",
                  established_on=date(2021, 3, 1), monthly_revenue=50_000_00)
    values.update(changes)
    return Applicant(**values)


def company(**changes) -> Applicant:
    values = dict(kind=ApplicantKind.ENTERPRISE, business_name="北京普惠科技有限公司",
                  owner=person("李四", "19800101", "456", "13912345678"), uscc=KNOWN_USCCS[0],
                  established_on=date(2015, 6, 1), monthly_revenue=200_000_00)
    values.update(changes)
    return Applicant(**values)


def account(holder: str = "张三") -> BankAccount:
    return BankAccount(KNOWN_CARDS[1], holder, "中国工商银行")


# -- Hypothesis strategies ---------------------------------------------------------------------

REGIONS = ("110101", "110102", "110105", "110108", "120101", "310101", "310104")  # valid 1950-2030
births = st.dates(min_value=date(1950, 1, 1), max_value=date(2005, 12, 31))
seqs = st.integers(0, 999).map(lambda n: f"{n:03d}")
resident_ids = st.builds(lambda b, r, s: resident_id(b, r, s), births, st.sampled_from(REGIONS),
                         seqs)
mobiles = st.builds(lambda p, n: f"{p}{n:08d}", st.sampled_from(["138", "139", "186", "199"]),
                    st.integers(0, 99_999_999))
names = st.text(st.characters(whitelist_categories=("Lo", "Lu", "Ll")), min_size=1, max_size=10)
people = st.builds(Person, names, resident_ids, mobiles)
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
usccs = st.builds(lambda head, tail: uscc_code(head + tail),
                  st.sampled_from(["91110000", "92310101", "91440300"]),
                  st.text(st.sampled_from(_USCC_CHARS), min_size=9, max_size=9))
cards = st.builds(lambda digits: card(digits), st.text(st.sampled_from("0123456789"),
                                                       min_size=15, max_size=18))
aware = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC))


@st.composite
def applicants(draw) -> Applicant:
    kind = draw(st.sampled_from(list(ApplicantKind)))
    owner = draw(people)
    guarantors = draw(st.lists(people, max_size=3, unique_by=lambda p: p.resident_id))
    if kind is ApplicantKind.INDIVIDUAL_BUSINESS:
        guarantors = [g for g in guarantors if g.resident_id != owner.resident_id]
    uscc_value = draw(usccs) if kind is ApplicantKind.ENTERPRISE else draw(st.none() | usccs)
    return Applicant(kind, draw(names), owner, uscc_value, draw(st.sampled_from(["", "retail"])),
                     draw(st.sampled_from(["", "110101"])),
                     draw(st.none() | st.dates(date(1990, 1, 1), date(2030, 1, 1))),
                     draw(st.integers(0, 10**12)), tuple(guarantors))


def later(at: datetime, **kw) -> datetime:
    return at + timedelta(**kw)
