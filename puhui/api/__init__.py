"""The open-banking REST API (FastAPI): `create_app(platform)` builds it."""

from puhui.api.app import create_app

__all__ = ["create_app"]
