"""CLI commands of the control context, in Keptn's words: `selfheal create project|service`,
`add-resource`, `send event`, `trigger sequence`, `get event|sequence`, `abort|pause|resume
sequence`, `approve`, and `auth` (like `keptn auth`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import typer

from selfheal.cli.client import TokenOption, UrlOption, check, save_auth
from selfheal.cli.client import client as _client

create_app = typer.Typer(help="Create a project or a service.", no_args_is_help=True)
send_app = typer.Typer(help="Send a CloudEvent.", no_args_is_help=True)
trigger_app = typer.Typer(help="Trigger a sequence.", no_args_is_help=True)
get_app = typer.Typer(help="Show events or sequences.", no_args_is_help=True)
transport: httpx.BaseTransport | None = None
"""Tests set an httpx transport here; by default the CLI talks HTTP to the server."""


def client(url: str | None, token: str | None) -> httpx.Client:
    return _client(url, token, transport=transport)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _echo(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2))


@create_app.command("project")
def create_project(
    name: str,
    shipyard: Path = typer.Option(..., "--shipyard", exists=True, readable=True),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Create a project from its shipyard file."""
    with client(url, token) as http:
        check(
            http.post(
                "/api/controlPlane/v1/project",
                json={"projectName": name, "shipyard": b64(shipyard)},
            )
        )
    typer.echo(f"Project {name} created")


@create_app.command("service")
def create_service(
    name: str,
    project: str = typer.Option(..., "--project"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Create a service in a project."""
    with client(url, token) as http:
        check(
            http.post(f"/api/controlPlane/v1/project/{project}/service", json={"serviceName": name})
        )
    typer.echo(f"Service {name} created in project {project}")


def add_resource(
    project: str = typer.Option(..., "--project"),
    resource: Path = typer.Option(..., "--resource", exists=True, readable=True),
    resource_uri: str | None = typer.Option(None, "--resourceUri"),
    stage: str | None = typer.Option(None, "--stage"),
    service: str | None = typer.Option(None, "--service"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Upload a file (validated; a new revision) to a project, stage or service."""
    path = f"/api/configuration-service/v1/project/{project}"
    if stage:
        path += f"/stage/{stage}"
        if service:
            path += f"/service/{service}"
    elif service:
        typer.echo("error: --service needs --stage", err=True)
        raise typer.Exit(2)
    uri = resource_uri or resource.name
    with client(url, token) as http:
        body = check(
            http.post(
                path + "/resource",
                json={"resources": [{"resourceURI": uri, "resourceContent": b64(resource)}]},
            )
        )
    typer.echo(f"Resource {uri} added (revision {body['commitID']})")


@send_app.command("event")
def send_event(
    file: Path = typer.Option(..., "-f", "--file", exists=True, readable=True),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Send a CloudEvent (JSON file) to the event API; prints its keptnContext."""
    with client(url, token) as http:
        body = check(
            http.post(
                "/api/v1/event",
                content=file.read_bytes(),
                headers={"content-type": "application/cloudevents+json"},
            )
        )
    typer.echo(f"keptnContext: {body['keptnContext']}")


@trigger_app.command("sequence")
def trigger_sequence(
    sequence: str,
    project: str = typer.Option(..., "--project"),
    stage: str = typer.Option(..., "--stage"),
    service: str = typer.Option(..., "--service"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    with client(url, token) as http:
        body = check(
            http.post(
                "/api/v1/sequences",
                json={"project": project, "stage": stage, "service": service, "sequence": sequence},
            )
        )
    typer.echo(f"keptnContext: {body['keptnContext']}")


@get_app.command("event")
def get_event(
    event_type: str | None = typer.Argument(None, help="e.g. sh.keptn.event.action.finished"),
    keptn_context: str | None = typer.Option(None, "--keptn-context"),
    project: str | None = typer.Option(None, "--project"),
    page_size: int = typer.Option(20, "--page-size"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    params = {
        k: v
        for k, v in {
            "type": event_type,
            "keptnContext": keptn_context,
            "project": project,
            "pageSize": page_size,
        }.items()
        if v is not None
    }
    with client(url, token) as http:
        _echo(check(http.get("/api/v1/events", params=params))["events"])


@get_app.command("sequence")
def get_sequence(
    keptn_context: str | None = typer.Argument(None),
    project: str | None = typer.Option(None, "--project"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    with client(url, token) as http:
        if keptn_context:
            _echo(check(http.get(f"/api/v1/sequences/{keptn_context}")))
            return
        params = {"project": project} if project else {}
        for s in check(http.get("/api/v1/sequences", params=params))["sequences"]:
            typer.echo(
                f"{s['shkeptncontext']}  {s['project']}/{s['stage']}/{s['service']}  {s['summary']}"
            )


def _control(state: str) -> Any:
    def command(
        keptn_context: str = typer.Option(..., "--keptn-context"),
        url: str | None = UrlOption,
        token: str | None = TokenOption,
    ) -> None:
        with client(url, token) as http:
            body = check(http.post(f"/api/v1/sequences/{keptn_context}/{state}"))
        typer.echo(f"sequence {keptn_context}: {body['summary']}")

    command.__doc__ = f"{state.capitalize()} a sequence."
    return command


def approve(
    keptn_context: str = typer.Option(..., "--keptn-context"),
    reject: bool = typer.Option(False, "--reject", help="reject instead of approving"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Approve (or reject) a sequence waiting for approval."""
    with client(url, token) as http:
        body = check(
            http.post(f"/api/v1/sequences/{keptn_context}/approval", json={"approved": not reject})
        )
    typer.echo(f"sequence {keptn_context}: {body['summary']}")


def auth(
    endpoint: str = typer.Option(..., "--endpoint"),
    api_token: str = typer.Option(..., "--api-token"),
) -> None:
    """Save the server and token for later commands (like `keptn auth`)."""
    with _client(endpoint, api_token, transport=transport) as http:
        check(http.get("/api/v1/events", params={"pageSize": 1}))
    path = save_auth(endpoint.rstrip("/"), api_token)
    typer.echo(f"Successfully authenticated against {endpoint} (saved in {path})")


def register(app: typer.Typer) -> None:
    """Add this context's commands to the root `selfheal` app."""
    app.add_typer(create_app, name="create")
    app.command("add-resource")(add_resource)
    app.add_typer(send_app, name="send")
    app.add_typer(trigger_app, name="trigger")
    app.add_typer(get_app, name="get")
    for state in ("abort", "pause", "resume"):
        group = typer.Typer(help=f"{state.capitalize()} a sequence.", no_args_is_help=True)
        group.command("sequence")(_control(state))
        app.add_typer(group, name=state)
    app.command("approve")(approve)
    app.command("auth")(auth)
