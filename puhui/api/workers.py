"""The API served by several worker processes.

One Python process runs one request's Python at a time, so a machine with more cores serves more
applications per second with one worker process per core.  uvicorn starts the workers and
imports the app in each; each builds its own platform (engines, models, policy) from the
environment the parent sets, so every worker decides with the same database, decider, models and
policies.  The database keeps them consistent: writers queue on SQLite's write lock or
PostgreSQL's row locks, and idempotency keys and unique constraints hold across processes as
they do across threads.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from fastapi import FastAPI

from puhui.services.platform import DATABASE_URL_ENV as ENV_VAR

#: What the workers read: the decider ('risk' or 'default') and the registries it uses.
ENV_DECIDER, ENV_MODELS, ENV_POLICIES = "PUHUI_DECIDER", "PUHUI_MODELS", "PUHUI_POLICIES"
#: The import string uvicorn gives each worker (a factory: called once per process).
FACTORY = "puhui.api.workers:app_from_environment"
#: Environment: allocations between two collections of the garbage collector's youngest
#: generation in a worker (default `GC_YOUNG`; Python's own default is 700).
ENV_GC_YOUNG = "PUHUI_GC_YOUNG"
GC_YOUNG = 50_000


def worker_environment(url: str | None, decider: str, models: Path,
                       policies: Path) -> dict[str, str]:
    """The environment variables that make `app_from_environment` build this platform."""
    env = {ENV_DECIDER: decider, ENV_MODELS: str(models), ENV_POLICIES: str(policies)}
    if url:
        env[ENV_VAR] = url
    return env


def app_from_environment() -> FastAPI:
    """The API on the platform the environment describes (see `worker_environment`)."""
    from puhui.api import create_app
    from puhui.services.risk import open_platform

    platform = open_platform(os.environ.get(ENV_VAR) or None,
                             os.environ.get(ENV_DECIDER, "risk"),
                             models_root=os.environ.get(ENV_MODELS, "var/models"),
                             policies_root=os.environ.get(ENV_POLICIES, "var/policies"))
    app = create_app(platform)
    tune_collector(os.environ.get(ENV_GC_YOUNG))
    return app


def gc_young(text: str | None) -> int:
    """The young-generation threshold `text` (``PUHUI_GC_YOUNG``) asks for; `ValueError` for
    anything but a whole number from 700 to 10,000,000 (empty: `GC_YOUNG`)."""
    text = (text or "").strip()
    if not text:
        return GC_YOUNG
    if text.isdigit() and 700 <= int(text) <= 10_000_000:
        return int(text)
    raise ValueError(f"{ENV_GC_YOUNG} must be a whole number from 700 to 10000000, not "
                     f"{text!r}")


def tune_collector(young: str | None = None) -> int:
    """Set the worker's garbage collector for a server's life; the young threshold set.

    Why: an application's data arrive as thousands of small dicts that live for the request and
    are freed by reference counting, yet at Python's default threshold (a collection every 700
    allocations) the collector runs a few dozen times per application, each time walking the
    request's live records, and promotes them to older generations that it then walks again.
    A larger young threshold collects rarely (cyclic garbage is rare here), and the objects
    built at start (models, policies, the synthetic world, the framework) are moved out of the
    collector's sight (`gc.freeze`), so no collection walks them again.  ``PUHUI_GC_YOUNG``
    (a whole number from 700 to 10,000,000; 700 gives Python's default back) sets the
    threshold; a bad value stops the worker at start rather than serving with a guess."""
    threshold = gc_young(young)
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
    return threshold
