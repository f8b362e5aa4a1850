"""One business's data as the live path receives it, for the one-decision benchmarks."""

from __future__ import annotations

import time
from datetime import date
from typing import Mapping

from puhui.risk.data.connectors import payload_of
from puhui.risk.data.payload import SourceData, parse_payload
from puhui.risk.errors import SourceUnavailable


def validated_payloads(connectors: Mapping, ref: str, on: date
                       ) -> tuple[dict[str, SourceData], float, int]:
    """The payload of every connector that answers for business `ref` on `on`, validated; the
    seconds spent validating (not fetching) them; and how many records they held."""
    data: dict[str, SourceData] = {}
    seconds, records = 0.0, 0
    for scope in connectors:
        try:
            raw = payload_of(connectors[scope].fetch(ref, on))
        except SourceUnavailable:
            continue
        t0 = time.perf_counter()
        data[scope] = parse_payload(scope, raw)
        seconds += time.perf_counter() - t0
        records += len(raw["records"])
    return data, seconds, records


def raw_payloads(connectors: Mapping, ref: str, on: date) -> dict:
    """The answer of every connector that answers for business `ref` on `on`, as received
    (a `Received`, not validated): what a decision starts from once the providers have
    answered."""
    out = {}
    for scope in connectors:
        try:
            out[scope] = connectors[scope].fetch(ref, on)
        except SourceUnavailable:
            continue
    return out
