"""Double-entry ledger: chart of accounts, balanced journal entries, a hash-chained audit trail."""

from puhui.ledger.accounts import CHART, Account, AccountType, Acct
from puhui.ledger.journal import (
    GENESIS_HASH,
    Attestation,
    EntryDraft,
    Journal,
    JournalEntry,
    Posting,
    balances_of,
    entry_hash,
    verify_chain,
)

__all__ = [
    "CHART", "Account", "AccountType", "Acct", "Attestation", "GENESIS_HASH", "EntryDraft",
    "Journal", "JournalEntry", "Posting", "balances_of", "entry_hash", "verify_chain",
]
