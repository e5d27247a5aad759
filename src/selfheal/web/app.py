"""`create_app(container)`: one ASGI app that mounts every context's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from selfheal import __version__
from selfheal.bootstrap import Container
from selfheal.runtime import NoUiAuth
from selfheal.web import errors, live, login, pages, system
from selfheal.web.badges import Badges
from selfheal.web.cors import Cors
from selfheal.web.headers import SecurityHeaders
from selfheal.web.incidents import Incidents
from selfheal.web.limits import BodyLimit
from selfheal.web.live import LiveHub
from selfheal.web.observability import RequestMetrics
from selfheal.web.origin import SameOrigin
from selfheal.web.sessions import Sessions

STATIC = Path(__file__).parent / "static"


def create_app(container: Container, *, manage_lifecycle: bool = True) -> FastAPI:
    """The app; with `manage_lifecycle` the container starts and stops with the server."""

    settings = container.settings
    sessions = container.runtime.extras.get("web.sessions")
    if not isinstance(sessions, Sessions):  # one per container, even if apps are rebuilt
        sessions = Sessions(
            container.runtime.database,
            container.runtime.clock,
            hours=settings.flags.session_hours,
            idle_minutes=settings.session_idle_minutes,
            registry=container.runtime.registry,
            admin=settings.flags.admin_user,
            password=settings.admin_password.get_secret_value()
            if settings.admin_password
            else None,
            users=[u.get_secret_value() for u in settings.ui_users],
        )
        container.runtime.extras["web.sessions"] = sessions
    if isinstance(container.runtime.ui_auth, NoUiAuth):  # unless a test installed its own
        container.runtime.ui_auth = sessions

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await container.start()
        await sessions.start()
        try:
            yield
        finally:
            await hub.stop()
            if manage_lifecycle:
                await container.stop()

    app = FastAPI(
        title="selfheal",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.container = container
    errors.install(app, container.runtime.templates)
    app.include_router(system.router(container.runtime))
    app.include_router(login.router(container.runtime, sessions))
    hub = LiveHub(container.runtime)
    app.include_router(live.router(container.runtime, hub))
    incidents = Incidents(
        container.monitor.service,
        container.control.service,
        container.flags.service,
        container.integrations.store,
    )
    container.runtime.flip_causes = incidents  # the flags console says what a flip undoes
    # problem lists show restores, sequence lists show whether their problem is mitigated
    container.runtime.problem_badges = Badges(container.monitor.service, container.control.service)
    app.include_router(pages.router(container.runtime, container.monitor.service, incidents))
    for component in container.components:
        for r in component.routers():
            app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # the UI's forms: refuse cross-site requests that carry the session
    app.add_middleware(SecurityHeaders, roots=errors.UI_ROOTS)
    app.add_middleware(SameOrigin, public_url=container.runtime.public_url)
    app.add_middleware(container.flags.fast_path)  # SDK polls skip routing; inside the metrics
    # browser SDKs on other origins: CORS around the fast path too
    app.add_middleware(
        Cors, origins=container.settings.cors_origins, paths=container.flags.browser_paths
    )
    app.add_middleware(BodyLimit, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(RequestMetrics, registry=container.runtime.registry)
    return app
