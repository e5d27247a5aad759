"""The `selfheal` command."""

from __future__ import annotations

import typer

from selfheal import __version__
from selfheal.cli import control, demo, flags, integrations, monitor, remediation, restore, server

app = typer.Typer(
    name="selfheal",
    help="Self-healing for web services: flags, monitor and remediation in one process.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"selfheal {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """selfheal"""


app.command("up")(server.up)
app.add_typer(server.db_app, name="db")
for _module in (flags, monitor, control, remediation, restore, integrations, demo):
    _module.register(app)


def main() -> None:
    """The console script: a server that cannot be reached is an error line, not a traceback."""
    import httpx

    try:
        app()
    except httpx.TransportError as exc:
        try:
            where = str(exc.request.url.copy_with(query=None))
        except RuntimeError:
            where = "the server"
        typer.echo(
            f"error: cannot reach {where} ({exc.__class__.__name__}: {exc}); "
            "check --url, SELFHEAL_URL or `selfheal auth`",
            err=True,
        )
        raise SystemExit(1) from None


__all__ = ["app", "main"]
