"""Applications per second through the HTTP API, with persistence, end to end to an offer.

Run: .venv/bin/python bench/applications_http.py [applications] [concurrency] [workers]
Target: >= 500 applications/s on SQLite; PostgreSQL is reported too (when a server answers at
PUHUI_TEST_PG_URL).  Each application is one `POST /v1/applications` with `submit: true` by a
partner key: authentication, Idempotency-Key, consent check, identity checks, the decider, the
offer with its schedule and IRR, and the writes (application, history, checks, consent use,
offer, idempotency record) in one transaction.  The applicants, their consents and their bound
accounts are registered beforehand (not timed).  The server runs in its own processes, started as
`puhui serve --workers` starts them (`puhui.api.supervisor`: uvicorn workers, each on its own
socket; deciding with the default policy; see `main` for how many), the client in this one;
all share the machine's cores.  The CPU time each side
spends per application is printed too: the server's figure bounds what any client could reach.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from _pg_scratch import scratch_database

from puhui.api.workers import worker_environment
from puhui.parties.synthetic import small_business
from puhui.services import access, applicants
from puhui.services.platform import Platform

TARGET = 500
SERVER = """
import sys
from puhui.api import supervisor
supervisor.serve(int(sys.argv[2]), "127.0.0.1", int(sys.argv[1]))
"""


def seed(url: str, n: int) -> tuple[str, list[str]]:
    """A partner key and `n` applicants with consent, registered through the services."""
    platform = Platform.open(url)
    rng, today, ids = random.Random(5), date.today(), []
    with platform.unit() as session:
        token = access.issue_key(session, "bench partner", "partner", "P-BENCH").token
    partner = access.Principal("bench", access.Role.PARTNER, access.ROLE_PERMS[access.Role.PARTNER],
                               "P-BENCH")
    for start in range(0, n, 500):
        with platform.unit() as session:
            for _ in range(min(500, n - start)):
                business = small_business(rng, today, monthly_revenue=rng.randint(30_000, 300_000) * 100)
                applicant_id = applicants.register_applicant(platform, session, partner, business)["applicant_id"]
                applicants.grant_consent(platform, session, partner, applicant_id,
                                         "credit_assessment", ["identity"])
                ids.append(applicant_id)
    platform.close()
    return token, ids


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process `pid` and its child processes (the
    server's workers), from Linux /proc, in seconds: the server's own cost per application,
    whatever else shares the machine."""
    total, parents = 0.0, {pid}
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    while parents:  # walk down from `pid`
        total += sum(ticks for p, (_, ticks) in stats.items() if p in parents)
        parents = {p for p, (ppid, _) in stats.items() if ppid in parents}
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def drive(port: int, token: str, ids: list[str], concurrency: int) -> tuple[float, list[float], dict]:
    """Post one application per id over `concurrency` keep-alive connections.

    A plain HTTP/1.1 client on asyncio streams rather than httpx: the load generator shares the
    machine with the server, and httpx spends about as much CPU per request as the server's
    framework does, which would measure the client.  Each response is read whole
    (Content-Length) and its status checked, so nothing is counted that the server did not
    answer.
    """
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    pending = list(reversed(ids))
    head = (f"POST /v1/applications HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n")

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while pending:
                applicant_id = pending.pop()
                body = json.dumps({"applicant_id": applicant_id, "product_code": "SME-EI-12",
                                   "amount": 10_000_000, "submit": True}).encode()
                request = (f"{head}Idempotency-Key: app-{applicant_id}\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                t0 = time.perf_counter()
                writer.write(request)
                status_code, answer = await read_response(reader)
                latencies.append(time.perf_counter() - t0)
                status = (json.loads(answer).get("status") if status_code == 201
                          else f"http {status_code}")
                outcomes[status] = outcomes.get(status, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return len(ids) / elapsed, latencies, outcomes


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status code, body) of one HTTP/1.1 response with a Content-Length."""
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status_code = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {lines[0]}")
    return status_code, await reader.readexactly(length)


def measure(name: str, url: str, n: int, concurrency: int, workers: int) -> None:
    token, ids = seed(url, n + 200)
    port = free_port()
    env = {**os.environ, **worker_environment(url, "default", Path("var/models"),
                                              Path("var/policies"))}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(workers)], env=env)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(drive(port, token, ids[:200], concurrency))  # warm-up
        server_cpu, client_cpu = tree_cpu_seconds(server.pid), time.process_time()
        rate, latencies, outcomes = asyncio.run(drive(port, token, ids[200:], concurrency))
        server_cpu = tree_cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        server.terminate()
        server.wait(10)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    verdict = "" if name != "sqlite" else f" (target >= {TARGET}: {'meets' if rate >= TARGET else 'MISSES'})"
    print(f"  {name:<11} {rate:>7,.0f} applications/s{verdict}   p50 {p50:6.1f} ms   "
          f"p99 {p99:6.1f} ms   outcomes {outcomes}")
    done = len(latencies)
    per_server, per_client = server_cpu / done * 1000, client_cpu / done * 1000
    print(f"  {'':<11} {workers} worker process(es); CPU per application: server "
          f"{per_server:.1f} ms, client {per_client:.1f} ms"
          f" (with every core on the server alone: at most "
          f"{(os.cpu_count() or 1) * 1000 / per_server:,.0f} applications/s)")


def main(n: int = 3000, concurrency: int = 16, workers: int = 0) -> None:
    """`workers` 0: one server process per core on both databases (on SQLite the processes
    decide in parallel and take turns only for the inserts, see `puhui.services.planned`)."""
    print(f"applications to offer over HTTP: {n:,} applications, {concurrency} concurrent "
          f"clients ({os.cpu_count()} cores visible)")
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", n, concurrency,
                workers or os.cpu_count() or 1)
    with scratch_database() as url:
        if url is not None:
            measure("postgresql", url, n, concurrency, workers or os.cpu_count() or 1)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
