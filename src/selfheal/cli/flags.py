"""CLI commands of the flags context: `selfheal flags list|create|on|off|archive|token`."""

from __future__ import annotations

import json

import typer

from selfheal.cli.client import TokenOption, UrlOption, check, client

app = typer.Typer(
    help="Feature flags on a running server (Unleash admin API).", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

ProjectOption = typer.Option("default", "--project", "-p", help="project")
EnvOption = typer.Option(None, "--env", "-e", help="environment (default: production)")


def _base(project: str) -> str:
    return f"/api/admin/projects/{project}/features"


@app.command("list")
def list_flags(
    project: str = ProjectOption,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """List flags with their state per environment."""
    with client(url, token) as http:
        features = check(http.get(_base(project)))["features"]
    if as_json:
        typer.echo(json.dumps(features, indent=2))
        return
    for f in features:
        states = " ".join(
            f"{e['name']}={'on' if e['enabled'] else 'off'}" for e in f["environments"]
        )
        typer.echo(f"{f['name']:<40} {f['type']:<12} {states}")


@app.command("create")
def create(
    name: str,
    flag_type: str = typer.Option(
        "release", "--type", "-t", help="release|experiment|operational|kill-switch|permission"
    ),
    description: str = typer.Option(None, "--description", "-d"),
    project: str = ProjectOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Create a flag (off everywhere)."""
    body = {"name": name, "type": flag_type, "description": description}
    with client(url, token) as http:
        check(http.post(_base(project), json=body))
    typer.echo(f"created {name}")


def _flip(
    name: str, on: bool, env: str | None, project: str, url: str | None, token: str | None
) -> None:
    environment = env or "production"
    state = "on" if on else "off"
    with client(url, token) as http:
        check(http.post(f"{_base(project)}/{name}/environments/{environment}/{state}"))
    typer.echo(f"{name} is {state} in {environment}")


@app.command("on")
def turn_on(
    name: str,
    env: str = EnvOption,
    project: str = ProjectOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Turn a flag on in an environment."""
    _flip(name, True, env, project, url, token)


@app.command("off")
def turn_off(
    name: str,
    env: str = EnvOption,
    project: str = ProjectOption,
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Turn a flag off in an environment."""
    _flip(name, False, env, project, url, token)


@app.command("archive")
def archive(
    name: str, project: str = ProjectOption, url: str = UrlOption, token: str = TokenOption
) -> None:
    """Archive a flag (SDKs stop seeing it; revive it from the admin API or UI)."""
    with client(url, token) as http:
        check(http.delete(f"{_base(project)}/{name}"))
    typer.echo(f"archived {name}")


@token_app.command("create")
def token_create(
    name: str,
    kind: str = typer.Option("client", "--type", "-t", help="client|backend|frontend|admin"),
    project: str = typer.Option("*", "--project", "-p"),
    env: str = typer.Option("production", "--env", "-e"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """Create an API token and print its secret (shown only this once)."""
    body = {"tokenName": name, "type": kind, "environment": env, "projects": [project]}
    with client(url, token) as http:
        issued = check(http.post("/api/admin/api-tokens", json=body))
    typer.echo(issued["secret"])


@token_app.command("list")
def token_list(url: str = UrlOption, token: str = TokenOption) -> None:
    """List API tokens (names and scopes; secrets are never shown again)."""
    with client(url, token) as http:
        tokens = check(http.get("/api/admin/api-tokens"))["tokens"]
    for t in tokens:
        typer.echo(
            f"{t['id']}  {t['tokenName']:<30} {t['type']:<9} {t['project']}:{t['environment']}"
        )


@token_app.command("delete")
def token_delete(token_id: str, url: str = UrlOption, token: str = TokenOption) -> None:
    """Revoke a token by its id (from `token list`) or its secret."""
    with client(url, token) as http:
        check(http.delete(f"/api/admin/api-tokens/{token_id}"))
    typer.echo("revoked")


def register(root: typer.Typer) -> None:
    """Add this context's commands to the root `selfheal` app."""
    root.add_typer(app, name="flags")
