"""The demo product shelf: what a new platform offers (`Platform.products`) and what the
simulations (`puhui run`, `puhui simulate`) and benchmarks lend.

Why a module of its own: the products are data of the core, wanted by the services as much as by
the book-level simulation; kept in either, the other would have to import across layers.
"""

from __future__ import annotations

from decimal import Decimal

from puhui.calendar import DayCount
from puhui.loans.product import LoanProduct, RepaymentMethod

DEMO_PRODUCTS = (
    LoanProduct("SME-EI-12", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.0985"), term_periods=12,
                repayment_day=20, upfront_fee_rate=Decimal("0.005"), name="经营贷 equal instalment"),
    LoanProduct("SME-EP-6", RepaymentMethod.EQUAL_PRINCIPAL, Decimal("0.12"), term_periods=6,
                day_count=DayCount.ACT_365F, name="经营贷 equal principal"),
    # a 10 yuan fee each month weighs 1.2% a year on 10,000 yuan: on less it would break the cap
    LoanProduct("SME-IF-6", RepaymentMethod.INTEREST_FIRST, Decimal("0.085"), term_periods=6,
                instalment_fee_fixed=1000, min_principal=10_000_00, name="先息后本"),
    LoanProduct("SME-BUL-90", RepaymentMethod.BULLET, Decimal("0.072"), term_days=90,
                day_count=DayCount.ACT_360, name="到期一次还本付息"),
    LoanProduct("SME-RV-180", RepaymentMethod.REVOLVING, Decimal("0.146"), term_days=180,
                day_count=DayCount.ACT_365F, name="随借随还"),
)
