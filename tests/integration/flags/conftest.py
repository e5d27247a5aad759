"""Fixtures for the flags API tests: in-process HTTP clients with each kind of token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from selfheal.bootstrap import Container
from selfheal.web import errors

ADMIN = "*:*.admin-secret"
CLIENT = "default:production.client-secret"
FRONTEND = "default:production.frontend-secret"


def flags_app(container: Container) -> FastAPI:
    """Only the flags routes with the shared error mapping, so that these tests do not depend
    on other contexts' routers (create_app mounts exactly these same routers)."""
    app = FastAPI()
    errors.install(app)
    for router in container.flags.routers():
        app.include_router(router)
    return app


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = flags_app(container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": ADMIN}


@pytest.fixture
def sdk() -> dict[str, str]:
    return {"Authorization": CLIENT, "Unleash-Client-Spec": "5.1.0"}
