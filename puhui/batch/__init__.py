"""The product's batch path: the daily close of the book, partition by partition.

`puhui.batch.close` is a pure function of a partition's due positions and the business date
(no database, no clock), so the same partition can be closed in this process or on a
distributed engine; `puhui.book.LoanBook.close_partition` reads and writes the partition around
it.  `puhui.batch.arith` holds the integer array arithmetic, equal to the scalar rules of
`puhui.loans.accrual` to the fen.
"""

from puhui.batch.close import PartitionCharges, charge_plain, day_number, plain_mask

__all__ = ["PartitionCharges", "charge_plain", "day_number", "plain_mask"]
