"""Credit lines (授信额度): the line itself, and how it follows the business after the payout.

This package is pure domain code (no SQL, no I/O): `policy.py` holds line policies as versioned
data and the evaluator that re-decides a line on fresh facts, `signals.py` the monitoring
signals computed from fresh data and repayment behaviour, `vectorised.py` the same policy over a
whole book at once, and `record.py` the replayable record of every re-evaluation.
"""
