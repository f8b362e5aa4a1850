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

import os
from pathlib import Path

from fastapi import FastAPI

from puhui.services.platform import DATABASE_URL_ENV as ENV_VAR

#: What the workers read: the decider ('risk' or 'default') and the registries it uses.
ENV_DECIDER, ENV_MODELS, ENV_POLICIES = "PUHUI_DECIDER", "PUHUI_MODELS", "PUHUI_POLICIES"
#: The import string uvicorn gives each worker (a factory: called once per process).
FACTORY = "puhui.api.workers:app_from_environment"


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
    return create_app(platform)
