"""Credit lines (授信额度): a limit granted once and drawn down as loans under it.

`line.py` holds the pure rules: the line, its lifecycle, what a draw or a change may do, and the
events that record each change.  Storage is `puhui.store.line_repo`; the operations are
`puhui.services.lines`.
"""
