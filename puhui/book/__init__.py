"""The durable loan book: the servicing engine and the daily close over the store.

`loan_book` holds `LoanBook` (a loan's transaction, its load from a snapshot, its events, the
partitioned daily close), `history` the replay of a loan's history; `audit` verifies the book's chains
and signs checkpoints of them.
"""

from puhui.book.history import Account, Replayed, SnapshotCheck, new_account, replay_history
from puhui.book.loan_book import PARTITION_SIZE, EodReport, LoanBook, PartitionClosed, amount_due

__all__ = ["PARTITION_SIZE", "Account", "EodReport", "LoanBook", "PartitionClosed", "Replayed",
           "SnapshotCheck", "amount_due", "new_account", "replay_history"]
