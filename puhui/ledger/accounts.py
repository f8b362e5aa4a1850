"""The chart of accounts a lender books its loan book into.

Codes follow the shape of the Chinese enterprise chart (1xxx assets, 2xxx liabilities, 3xxx equity,
6xxx income and expense, 9xxx memorandum accounts off the balance sheet) so that an accountant
recognises them; loans are sub-ledgered by loan id on each posting rather than by opening an
account per loan.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from puhui.errors import UnknownAccount


class AccountType(str, enum.Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"
    #: Memorandum (off-balance) accounts: commitments, not money; they post in balanced pairs
    #: so the journal's rules hold, and stay out of the balance sheet and the income statement.
    MEMORANDUM = "memorandum"

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow with debits; the rest grow with credits."""
        return self in (AccountType.ASSET, AccountType.EXPENSE)


@dataclass(frozen=True, slots=True)
class Account:
    code: str
    name: str
    type: AccountType


class Acct:
    """Account codes used by the servicing engine (names read like the chart)."""

    CASH = "1001"                 # cash and settlement (bank clearing account)
    LOAN_PRINCIPAL = "1301"       # loans: principal receivable
    INTEREST_RECEIVABLE = "1302"  # interest receivable (accrued, due and unpaid)
    FEE_RECEIVABLE = "1303"       # fees receivable
    PENALTY_RECEIVABLE = "1304"   # penalty interest receivable (罚息)
    LOAN_LOSS_ALLOWANCE = "1305"  # loan-loss allowance (贷款损失准备): contra-asset, credit balance
    BORROWER_CREDIT = "2241"      # borrower credit balances (overpayments held for the borrower)
    SUSPENSE = "2242"             # suspense: receipts not yet matched to a loan
    CAPITAL = "3001"              # paid-in capital funding the book
    INTEREST_INCOME = "6011"
    FEE_INCOME = "6021"
    PENALTY_INCOME = "6031"
    RECOVERY_INCOME = "6051"      # recoveries on written-off loans
    LOAN_LOSS = "6701"            # loan losses (write-offs)
    PROVISION_EXPENSE = "6702"    # credit impairment loss (信用减值损失): month-end provisions
    LINE_COMMITMENT = "9101"      # memorandum: undrawn credit line commitments (the lender's)
    LINE_COMMITMENT_CONTRA = "9102"  # memorandum contra: credit lines granted, undrawn


CHART: dict[str, Account] = {
    a.code: a
    for a in (
        Account(Acct.CASH, "Cash and settlement", AccountType.ASSET),
        Account(Acct.LOAN_PRINCIPAL, "Loan principal receivable", AccountType.ASSET),
        Account(Acct.INTEREST_RECEIVABLE, "Interest receivable", AccountType.ASSET),
        Account(Acct.FEE_RECEIVABLE, "Fees receivable", AccountType.ASSET),
        Account(Acct.PENALTY_RECEIVABLE, "Penalty interest receivable", AccountType.ASSET),
        Account(Acct.LOAN_LOSS_ALLOWANCE, "Loan-loss allowance (contra-asset)",
                AccountType.ASSET),
        Account(Acct.BORROWER_CREDIT, "Borrower credit balances", AccountType.LIABILITY),
        Account(Acct.SUSPENSE, "Suspense: unallocated receipts", AccountType.LIABILITY),
        Account(Acct.CAPITAL, "Paid-in capital", AccountType.EQUITY),
        Account(Acct.INTEREST_INCOME, "Interest income", AccountType.INCOME),
        Account(Acct.FEE_INCOME, "Fee income", AccountType.INCOME),
        Account(Acct.PENALTY_INCOME, "Penalty interest income", AccountType.INCOME),
        Account(Acct.RECOVERY_INCOME, "Recoveries of written-off loans", AccountType.INCOME),
        Account(Acct.LOAN_LOSS, "Loan losses (write-offs)", AccountType.EXPENSE),
        Account(Acct.PROVISION_EXPENSE, "Credit impairment loss (loan-loss provisions)",
                AccountType.EXPENSE),
        Account(Acct.LINE_COMMITMENT, "Undrawn credit line commitments (memorandum)",
                AccountType.MEMORANDUM),
        Account(Acct.LINE_COMMITMENT_CONTRA, "Credit line commitments, contra (memorandum)",
                AccountType.MEMORANDUM),
    )
}


def account(code: str) -> Account:
    """The chart's account for `code`, or `UnknownAccount`."""
    try:
        return CHART[code]
    except KeyError:
        raise UnknownAccount(f"account {code!r} is not in the chart of accounts") from None
