"""The web edge: the ASGI app, error mapping, metrics and the shared UI layout."""

from __future__ import annotations

from selfheal.web.app import create_app

__all__ = ["create_app"]
