"""The portfolio report a credit committee reads: book size, aging, five-tier classes, income."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from puhui.book import Account
from puhui.ledger.accounts import CHART, Acct
from puhui.loans.delinquency import RISK_CLASSES
from puhui.loans.state import LoanStatus


@dataclass
class PortfolioReport:
    as_of: date
    by_status: Counter = field(default_factory=Counter)
    buckets: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    classes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    principal_outstanding: int = 0
    ledger: dict[str, int] = field(default_factory=dict)
    trial_balance: dict[str, int] = field(default_factory=dict)
    verified_entries: int = 0

    @property
    def npl_ratio(self) -> float:
        """Share of outstanding principal classified substandard, doubtful or loss (不良率)."""
        bad = sum(v[1] for k, v in self.classes.items() if k in ("substandard", "doubtful", "loss"))
        return bad / self.principal_outstanding if self.principal_outstanding else 0.0


def portfolio_report(accounts: list[Account], as_of: date, ledger_balances: dict[tuple[str, str], int],
                     trial_balance: dict[str, int], verified: int) -> PortfolioReport:
    report = PortfolioReport(as_of, trial_balance=trial_balance, verified_entries=verified)
    for account in accounts:
        report.by_status[account.status.value] += 1
        if account.status is not LoanStatus.ACTIVE:
            continue
        outstanding = account.principal_outstanding
        report.principal_outstanding += outstanding
        dpd = account.days_past_due(as_of)
        for table, label in ((report.buckets, account.delinquency.bucket(dpd)),
                             (report.classes, account.risk_class(as_of).value)):
            table[label][0] += 1
            table[label][1] += outstanding
    for (code, _), amount in ledger_balances.items():
        report.ledger[code] = report.ledger.get(code, 0) + amount
    return report


def render(report: PortfolioReport) -> None:
    """Print the report with Rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    yuan = lambda fen: f"{fen / 100:,.2f}"  # noqa: E731 - display only, never arithmetic
    console.print(f"[bold]Portfolio as of {report.as_of}[/bold]  status: {dict(report.by_status)}")
    aging = Table("bucket", "loans", "principal (CNY)", title="Aging (active loans)")
    for label, (n, amt) in sorted(report.buckets.items(), key=lambda kv: _bucket_order(kv[0])):
        aging.add_row(label, str(n), yuan(amt))
    console.print(aging)
    classes = Table("class", "", "loans", "principal (CNY)", title="Five-tier classification")
    for rc in RISK_CLASSES:
        n, amt = report.classes.get(rc.value, [0, 0])
        classes.add_row(rc.value, rc.chinese, str(n), yuan(amt))
    console.print(classes)
    console.print(f"NPL ratio: {report.npl_ratio:.2%}")
    ledger = Table("account", "name", "balance (CNY, debit +)", title="General ledger")
    for code in sorted(report.ledger):
        ledger.add_row(code, CHART[code].name, yuan(report.ledger[code]))
    console.print(ledger)
    balanced = all(v == 0 for v in report.trial_balance.values())
    console.print(f"Trial balance: {report.trial_balance} -> {'balanced' if balanced else 'OUT OF BALANCE'}; "
                  f"hash chain verified over {report.verified_entries} entries")
    income = -sum(report.ledger.get(a, 0) for a in (Acct.INTEREST_INCOME, Acct.FEE_INCOME,
                                                     Acct.PENALTY_INCOME, Acct.RECOVERY_INCOME))
    console.print(f"Income recognised: {yuan(income)} CNY; losses written off: "
                  f"{yuan(report.ledger.get(Acct.LOAN_LOSS, 0))} CNY")


def _bucket_order(label: str) -> int:
    return -1 if label == "current" else int(label.split("-")[0].rstrip("+"))
