"""Monthly summaries of a business's large record sources, kept so a refresh need not re-read them.

(The framework -- storage form, key filter, registry -- is being written; the per-source
summaries live in this package's modules: `sales`, `logistics`, `bank`, `app`.)
"""
