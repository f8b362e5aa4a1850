"""Vectorised batch jobs over many loans: schedules, end of day, portfolio aging.

Every function here is the array twin of a scalar rule in `puhui.loans` and agrees with it to the
fen; the scalar code stays the reference definition.
"""

from puhui.batch.book import NULL_DAY, book_arrays, day_number, day_numbers, synthetic_book
from puhui.batch.eod import EodArrays, EodResult, eod_arrays, run_eod
from puhui.batch.schedules import (ScheduleBatch, equal_instalment_batch, equal_principal_batch,
                                   level_payments)

__all__ = [
    "NULL_DAY", "EodArrays", "EodResult", "ScheduleBatch", "book_arrays", "day_number",
    "day_numbers", "eod_arrays", "equal_instalment_batch", "equal_principal_batch",
    "level_payments", "run_eod", "synthetic_book",
]
