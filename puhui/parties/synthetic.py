"""Synthetic but valid identities and small businesses, for demonstrations and tests.

Every number carries a correct check digit (GB 11643, GB 32100, Luhn) and a plausible
structure, so it passes the same validation real intake does; none belongs to a real person
(birth regions and card BINs are real prefixes, the serials are random).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from stdnum import luhn
from stdnum.cn import ric, uscc

from puhui.parties.applicant import Applicant, ApplicantKind, BankAccount, Person

REGIONS = ("110101", "310104", "440305", "330106", "510107", "420106", "320102", "370102")
CARD_BINS = ("622202", "622848", "621700", "622588", "621226")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
TRADES = (("早餐店", "catering"), ("五金店", "retail"), ("物流", "logistics"),
          ("服装", "apparel"), ("便利店", "retail"), ("印刷厂", "manufacturing"),
          ("水果批发", "wholesale"), ("汽修", "services"), ("电商", "e-commerce"))


def resident_id(rng: random.Random, born: date, region: str | None = None) -> str:
    """A valid number; a region code not yet in use in the birth year is swapped for another."""
    for attempt in range(50):
        code = region if region and attempt == 0 else rng.choice(REGIONS)
        body = f"{code}{born:%Y%m%d}{rng.randint(0, 999):03d}"
        number = body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder digit
        if ric.is_valid(number):
            return number
    raise ValueError(f"no region code in use for a birth in {born.year}")


def credit_code(rng: random.Random, region: str | None = None, enterprise: bool = False) -> str:
    """GB 32100: "91" marks a company registered with market regulation, "92" a 个体工商户."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = ("91" if enterprise else "92") + (region or rng.choice(REGIONS)) + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def bank_card(rng: random.Random) -> str:
    body = rng.choice(CARD_BINS) + "".join(str(rng.randint(0, 9)) for _ in range(12))
    return body + luhn.calc_check_digit(body)


def mobile(rng: random.Random) -> str:
    return rng.choice(("138", "139", "150", "186", "137", "158")) + f"{rng.randint(0, 99_999_999):08d}"


def person(rng: random.Random, on: date, age: int | None = None) -> Person:
    age = age if age is not None else rng.randint(23, 60)
    born = on - timedelta(days=365 * age + rng.randint(0, 300))
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return Person(name, resident_id(rng, born), mobile(rng))


def small_business(rng: random.Random, on: date, monthly_revenue: int | None = None,
                   enterprise: bool | None = None) -> Applicant:
    """A 个体工商户 or a small enterprise with a plausible revenue (fen) and history."""
    owner = person(rng, on)
    trade, industry = rng.choice(TRADES)
    enterprise = rng.random() < 0.3 if enterprise is None else enterprise
    region = rng.choice(REGIONS)
    revenue = monthly_revenue if monthly_revenue is not None else \
        int(rng.lognormvariate(11.3, 0.8)) * 100  # median ~80,000 yuan a month
    name = owner.name[0] + rng.choice("记氏家宏兴顺达") + trade + ("有限公司" if enterprise else "")
    return Applicant(
        kind=ApplicantKind.ENTERPRISE if enterprise else ApplicantKind.INDIVIDUAL_BUSINESS,
        business_name=name, owner=owner, uscc=credit_code(rng, region, enterprise), industry=industry,
        region_code=region, established_on=on - timedelta(days=rng.randint(120, 4000)),
        monthly_revenue=revenue)


def account_for(rng: random.Random, applicant: Applicant) -> BankAccount:
    return BankAccount(bank_card(rng), applicant.owner.name, rng.choice(("工商银行", "农业银行", "建设银行")))
