"""Collections (催收): the pure rules for overdue loans.

- `strategy`: which stage a delinquent loan is in (by days past due, raised by broken promises)
  and what each stage does (reminders, call queue, field visit, legal letter, agency);
- `contact`: when and how often a borrower may be contacted, and by whom (never third parties);
- `promises`: whether a promise to pay was kept, from the loan's actual receipts;
- `restructuring`: reschedule, extend or reduce-instalment offers, checked against the rate cap
  and the borrower's affordability before they become a loan's `Reschedule` event;
- `writeoff`: when a case is recommended for write-off.

Pure: no clock, no database.  The services (`puhui.services.collections`) load, ask these and
write through the store (`puhui.store.collections_repo`).
"""
