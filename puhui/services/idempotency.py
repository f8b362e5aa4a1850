"""The stored answers to POSTs that carried an Idempotency-Key, as the API uses them: wait for a
key in use, find a stored answer, remember a new one (in the caller's transaction, so it lands
with the change it reports).  The statements and the per-database wait are the store's
(`puhui.store.idempotency`, where the why is written down).
"""

from __future__ import annotations

from puhui.store.idempotency import Unit, find, remember, wait_for_key

__all__ = ["Unit", "find", "remember", "wait_for_key"]
