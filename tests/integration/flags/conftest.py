"""Fixtures for the flags API tests: in-process HTTP clients with each kind of token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from selfheal.bootstrap import Container
from selfheal.web import create_app

ADMIN = "*:*.admin-secret"
CLIENT = "default:production.client-secret"
FRONTEND = "default:production.frontend-secret"


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app, as `selfheal up` serves it, so another context's route (or one of ours)
    shadowing a flags route shows up here."""
    app = create_app(container, manage_lifecycle=False)
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
