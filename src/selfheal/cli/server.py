"""`selfheal up` and `selfheal db upgrade`."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from selfheal.bootstrap import Container
    from selfheal.cli.shutdown import Shutdown
    from selfheal.settings import Settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (uvicorn[standard] brings it): the SDK hot path
    serves about twice the requests per second on it."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _settings(config: Path | None, host: str | None = None, port: int | None = None) -> object:
    """The settings, or exit 2 with what is wrong (variables and keys named, no values)."""
    from selfheal.settings import SettingsError, load_settings

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    try:
        return load_settings(config, **overrides)
    except SettingsError as error:
        typer.echo(f"selfheal: {error}", err=True)
        raise typer.Exit(2) from None


def up(
    host: str = typer.Option(None, "--host", help="bind address (SELFHEAL_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, "--port", help="port (SELFHEAL_PORT, 4242)"),
    config: Path = typer.Option(None, "--config", help="YAML settings file (SELFHEAL_CONFIG)"),
) -> None:
    """Run everything in one process: flags, monitor, control plane, integrations, UI."""
    from selfheal.cli.shutdown import Shutdown

    shutdown = Shutdown()
    shutdown.install()  # first: a signal while importing or reading settings exits 0 too

    from selfheal import logs
    from selfheal.settings import Settings

    settings = _settings(config, host, port)
    assert isinstance(settings, Settings)
    logs.configure(settings.log_level, settings.log_format)
    run_loop(_serve(settings, shutdown))


async def _serve(settings: Settings, shutdown: Shutdown) -> None:
    """Build and start the container, then serve until `shutdown` says stop."""
    from selfheal.bootstrap import build

    async def start() -> Container:
        container = await build(settings)
        try:
            await container.start()
        except BaseException:
            await asyncio.shield(container.stop())
            raise
        return container

    task = asyncio.create_task(start())
    shutdown.starting(task)
    try:
        try:
            container = await task
        except asyncio.CancelledError:
            if shutdown.requested:
                return  # stopped while starting: a clean exit
            raise
        _settle_heap()
        try:
            await _run_server(settings, container, shutdown)
        finally:
            await container.stop()
    finally:
        shutdown.finished()


GC_THRESHOLDS = (10_000, 20, 20)
"""The cyclic collector's thresholds while serving (CPython's default is 700, 10, 10)."""


def _settle_heap() -> None:
    """After start: what was built to start (modules, schemas, table metadata, compiled
    statements) moves out of the cyclic collector's sight for good (`gc.freeze`), and the
    youngest generation is collected less often. The serving loop allocates short-lived
    objects at a high rate; with the defaults the collector ran every 700 of them and each
    full pass walked the whole startup heap (about 4 % of a replica's CPU in a burst, perf).
    Reference counting still frees nearly everything at once; only cycles wait longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _run_server(settings: Settings, container: Container, shutdown: Shutdown) -> None:
    import uvicorn

    from selfheal.cli.shutdown import GracefulServer
    from selfheal.web import create_app

    server = GracefulServer(
        uvicorn.Config(
            create_app(container, manage_lifecycle=False),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
            lifespan="on",
        )
    )
    shutdown.serving(server)
    await server.serve()


@db_app.command("upgrade")
def db_upgrade(
    config: Path = typer.Option(None, "--config", help="YAML settings file"),
) -> None:
    """Apply every pending migration (the server also does this at start)."""
    from selfheal.settings import Settings
    from selfheal.storage import Database, redact

    settings = _settings(config)
    assert isinstance(settings, Settings)

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(run())
    typer.echo(f"database at {redact(settings.database_url)} is up to date")
