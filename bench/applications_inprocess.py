"""CPU per application through the API application itself: no HTTP server, no client.

Run: .venv/bin/python bench/applications_inprocess.py [applications] [--profile] [--default]
The same `POST /v1/applications` with `submit: true` as `bench/applications_http.py`, called
straight through the ASGI interface on SQLite, one after another, with the decider `make run`
serves (the risk engine: the synthetic world as the data providers, the registered models,
trained first into a scratch registry, not timed, and the shipped policy; `--default` for the
simple default policy instead), its garbage collector set as `puhui serve` sets a worker's
(`api.workers.tune_collector`; PUHUI_GC_YOUNG=700 for Python's default).  What it prints is the application's own cost per request and
its stages (the figure to cut for the HTTP target: at 150 applications/s on 2 cores, with the
client and the framework sharing them, the server may spend at most about 12 ms each);
`--profile` adds where it goes.
The applicants are registered in this process beforehand, so their stored records are already
parsed here, as they are in a server that has seen them before.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from applications_http import seed

from puhui.api.app import create_app
from puhui.api.workers import ENV_GC_YOUNG, tune_collector
from puhui.services import stages
from puhui.services.risk import open_platform

WARM_UP = 200


async def post(app, token: str, applicant_id: str) -> None:
    body = json.dumps({"applicant_id": applicant_id, "product_code": "SME-EI-12",
                       "amount": 10_000_000, "submit": True}).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/applications", "raw_path": b"/v1/applications",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode()),
                         (b"content-type", b"application/json"),
                         (b"idempotency-key", f"app-{applicant_id}".encode()),
                         (b"content-length", str(len(body)).encode())]}
    received = False

    async def receive() -> dict:
        nonlocal received
        if received:  # the app only asks again to watch for a disconnect
            await asyncio.sleep(3600)
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    answer: list[dict] = []

    async def send(message: dict) -> None:
        answer.append(message)

    await app(scope, receive, send)
    if answer[0]["status"] != 201:
        raise RuntimeError(f"application refused: {answer}")


async def post_all(app, token: str, ids: list[str]) -> None:
    for applicant_id in ids:
        await post(app, token, applicant_id)


def main(n: int = 1500, profile: bool = False, decider: str = "risk") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        token, ids = seed(url, n + WARM_UP)
        platform = open_platform(url, decider, models_root=Path(tmp) / "models",
                                 policies_root=Path(tmp) / "policies")
        try:
            app = create_app(platform)
            tune_collector(os.environ.get(ENV_GC_YOUNG))  # as `puhui serve` sets a worker
            asyncio.run(post_all(app, token, ids[:WARM_UP]))
            timed = ids[WARM_UP:]
            if profile:
                profiler = cProfile.Profile()
                profiler.runcall(asyncio.run, post_all(app, token, timed))
                pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(os.environ.get("PROFILE_FILTER", "puhui"), 60)
                return
            with stages.timing() as spent:
                cpu, wall = time.process_time(), time.perf_counter()
                asyncio.run(post_all(app, token, timed))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            platform.close()
    print(f"applications through the API application in-process (SQLite, {decider} decider): "
          f"{len(timed):,}")
    print(f"  CPU per application {1000 * cpu / len(timed):.2f} ms   "
          f"wall {1000 * wall / len(timed):.2f} ms (the commit's fsync is wall, not CPU)")
    parts = ", ".join(f"{k} {1000 * c / len(timed):.2f}" for k, (_, c) in spent.items())
    print(f"  CPU ms per application by stage (stages nest): {parts}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*(int(a) for a in args[:1]), profile="--profile" in sys.argv,
         decider="default" if "--default" in sys.argv else "risk")
