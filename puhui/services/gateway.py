"""The payment rail: payouts to borrowers or their suppliers, and pulls from bound accounts.

Why an interface: a lender plugs in its bank's or a payment institution's API; tests and
demonstrations use the sandbox.  Every call carries the lender's own reference, and a rail
must treat a repeated reference as the same instruction (real rails do, through the merchant
order number), so a retried payout never pays twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol


@dataclass(frozen=True, slots=True)
class Transfer:
    reference: str
    account: str
    name: str
    amount: int        # fen
    ok: bool
    gateway_ref: str
    reason: str = "ok"


class PaymentGateway(Protocol):
    def pay_out(self, reference: str, account: str, name: str, amount: int) -> Transfer: ...

    def collect(self, reference: str, account: str, name: str, amount: int) -> Transfer: ...


@dataclass
class SandboxGateway:
    """An in-memory rail: payouts succeed; a collection succeeds unless `decline` says no
    (a function of account and amount, e.g. a borrower who is short of funds)."""

    decline: Callable[[str, int], str | None] = lambda account, amount: None
    transfers: dict[str, Transfer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pay_out(self, reference: str, account: str, name: str, amount: int) -> Transfer:
        return self._once(reference, account, name, amount, None)

    def collect(self, reference: str, account: str, name: str, amount: int) -> Transfer:
        return self._once(reference, account, name, amount, self.decline(account, amount))

    def _once(self, reference: str, account: str, name: str, amount: int,
              refusal: str | None) -> Transfer:
        with self._lock:
            done = self.transfers.get(reference)
            if done is not None:
                return done
            transfer = Transfer(reference, account, name, amount, refusal is None,
                                f"SBX{len(self.transfers) + 1:010d}", refusal or "ok")
            self.transfers[reference] = transfer
            return transfer

    def paid_out(self, reference_prefix: str = "") -> list[Transfer]:
        return [t for r, t in self.transfers.items() if r.startswith(reference_prefix)]
