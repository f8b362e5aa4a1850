"""Bytes stored per application for the data-source payloads, before and after packing.

Product path measured: `services.data.collect` as `applications._submit` runs it, with the demo's
providers (`puhui.risk.sme.live_world(20_000, 11, today)` through `ConnectorSet.synthetic`),
every business-data scope consented, each application one business of the world, into a fresh
SQLite database.  "Before" is what revision 0004 stored: the canonical JSON text, i.e. the bytes
as received; "after" is the packed blob (`puhui.store.payload_codec`).  Also timed: packing
(columns + compression, with the check that unpacking gives the bytes back) and reading an
application's payloads back (unpack, SHA-256 check, JSON parse).

Run: .venv/bin/python bench/payload_storage.py [applications=100]
Target: <= 50 kB stored per application on average.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from puhui.parties.synthetic import small_business
from puhui.risk import sme
from puhui.risk.data.connectors import ConnectorSet
from puhui.risk.data.payload import SOURCES
from puhui.risk.errors import SourceUnavailable
from puhui.services import applicants as svc
from puhui.services.access import SYSTEM
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.data import canonical_text, collect, stored_payloads
from puhui.services.platform import Platform
from puhui.store import payload_codec, risk_repo

TODAY = date(2026, 12, 7)


def main(n: int = 100) -> None:
    world = sme.live_world(20_000, 11, TODAY)
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        p = Platform.open(f"sqlite:///{Path(tmp) / 'bench.sqlite'}",
                          clock=ManualClock(at_business_date(TODAY)))
        try:
            apps, pack_ms = [], []
            for i in range(n):
                business = small_business(rng, TODAY)
                with p.unit() as session:
                    applicant_id = svc.register_applicant(p, session, SYSTEM,
                                                          business)["applicant_id"]
                    svc.grant_consent(p, session, SYSTEM, applicant_id, "credit_assessment",
                                      [s.value for s in SOURCES])
                connectors = ConnectorSet.synthetic(
                    world, business_ids={business.uscc: str(world.ids[i])})
                received = []
                for scope in SOURCES:  # the bytes as received, to time packing on its own
                    try:
                        received.append(canonical_text(connectors[scope].fetch(
                            business.uscc, TODAY)).encode())
                    except SourceUnavailable:
                        pass
                t0 = time.perf_counter()
                for data in received:
                    payload_codec.pack(data)
                pack_ms.append((time.perf_counter() - t0) * 1000)
                with p.unit() as session:
                    collect(p, session, applicant_id, f"APP{i:04d}", SOURCES, TODAY, connectors)
                apps.append(f"APP{i:04d}")
            read_ms = []
            for app in apps:
                t0 = time.perf_counter()
                with p.read() as session:
                    stored_payloads(session, app)
                read_ms.append((time.perf_counter() - t0) * 1000)
            with p.read() as session:
                payloads, applications, before, after = risk_repo.stored_sizes(session)
        finally:
            p.close()
    codec = payload_codec.default_compression()
    print(f"{applications} applications, {payloads} payloads, codec cols+{codec}")
    print(f"stored per application: before {before / applications / 1000:,.1f} kB (JSON text), "
          f"after {after / applications / 1000:,.1f} kB packed "
          f"({before / after:.1f}x smaller)")
    print(f"packing per application: median {statistics.median(pack_ms):.1f} ms, "
          f"p99 {sorted(pack_ms)[int(0.99 * (len(pack_ms) - 1))]:.1f} ms")
    print(f"reading back per application (unpack, sha256, JSON): median "
          f"{statistics.median(read_ms):.1f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
