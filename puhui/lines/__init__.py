"""Credit lines (授信额度): a limit granted once and drawn down as loans under it, and how it
follows the business after the payout.

This package is pure domain code (no SQL, no I/O): `line.py` holds the line, its lifecycle, what
a draw or a change may do, and the events that record each change (storage is
`puhui.store.line_repo`, the operations `puhui.services.lines`); `policy.py` holds line
policies as versioned data and the evaluator that re-decides a line on fresh facts, `signals.py`
the monitoring signals computed from fresh data and repayment behaviour, `vectorised.py` the
same policy over a whole book at once, and `record.py` the replayable record of every
re-evaluation (`puhui.services.reevaluation` runs them).
"""
