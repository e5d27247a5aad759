"""How the CLI finds and talks to a server: `--url/--token`, `SELFHEAL_URL/SELFHEAL_TOKEN`,
or what `selfheal auth --endpoint … --api-token …` saved (like `keptn auth`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

DEFAULT_URL = "http://127.0.0.1:4242"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "selfheal" / "auth.json"


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None


def save_auth(url: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"endpoint": url, "token": token}))
    path.chmod(0o600)
    return path


def resolve(url: str | None = None, token: str | None = None) -> Endpoint:
    saved: dict[str, Any] = {}
    path = config_path()
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
    return Endpoint(
        url=(url or os.environ.get("SELFHEAL_URL") or saved.get("endpoint") or DEFAULT_URL).rstrip(
            "/"
        ),
        token=token or os.environ.get("SELFHEAL_TOKEN") or saved.get("token"),
    )


def client(
    url: str | None = None,
    token: str | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client for the server; `transport` lets tests run the CLI against an app."""
    ep = resolve(url, token)
    headers = {"Authorization": ep.token} if ep.token else {}
    return httpx.Client(base_url=ep.url, headers=headers, timeout=30.0, transport=transport)


def check(response: httpx.Response) -> Any:
    """The JSON body, or exit 1 with the server's message."""
    if response.status_code >= 400:
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        typer.echo(f"error: {response.status_code} {message}", err=True)
        raise typer.Exit(1)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


UrlOption = typer.Option(None, "--url", help="server URL (default: SELFHEAL_URL or saved auth)")
TokenOption = typer.Option(
    None, "--token", help="API token (default: SELFHEAL_TOKEN or saved auth)"
)
