"""CLI commands of the integrations context: check integrations.yaml offline, list
deliveries and dead letters, retry a dead letter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from selfheal.cli.client import TokenOption, UrlOption, check, client

app = typer.Typer(
    help="Integrations: Jira, Slack, Dynatrace, webhooks and their deliveries.",
    no_args_is_help=True,
)


def config_models() -> dict[str, type[Any]]:
    from selfheal.integrations.dynatrace import DynatraceConfig
    from selfheal.integrations.jira import JiraConfig
    from selfheal.integrations.slack import SlackConfig
    from selfheal.integrations.webhooks import WebhookConfig

    return {
        "jira": JiraConfig,
        "slack": SlackConfig,
        "dynatrace": DynatraceConfig,
        "webhook": WebhookConfig,
    }


@app.command("check")
def check_file(path: Path = typer.Argument(..., help="integrations.yaml")) -> None:
    """Validate integrations.yaml and every plugin's config without a server."""
    from selfheal.core import SelfhealError
    from selfheal.integrations.manifests import load_manifest
    from selfheal.integrations.plugins import discover, factory_for

    configs = config_models()

    try:
        manifest = load_manifest(path.read_text())
        factories = discover()
        for spec in manifest.integrations:
            factory_for(spec.type, factories)
            model = configs.get(spec.type)
            if model is not None:
                manifest.config(model, spec)
    except SelfhealError as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(1) from None
    for spec in manifest.integrations:
        state = "" if spec.enabled else " (disabled)"
        typer.echo(f"ok  {spec.name}: {spec.type}{state}")


@app.command("deliveries")
def deliveries(
    problem: str = typer.Option(None, "--problem"),
    context: str = typer.Option(None, "--context"),
    dead: bool = typer.Option(False, "--dead", help="only the dead-letter list"),
    url: str = UrlOption,
    token: str = TokenOption,
) -> None:
    """List outbound deliveries (newest first)."""
    params = {k: v for k, v in (("problem", problem), ("context", context)) if v}
    if dead:
        params["status"] = "dead"
    with client(url, token) as http:
        body = check(http.get("/api/v1/deliveries", params=params))
    for d in body["deliveries"]:
        typer.echo(
            f"{d['id']}  {d['status']:<9} {d['integration']}/{d['kind']}  attempts={d['attempts']}  "
            f"{d['target']}  {d.get('error') or ''}"
        )


@app.command("retry")
def retry(delivery_id: str, url: str = UrlOption, token: str = TokenOption) -> None:
    """Send a dead-lettered delivery again."""
    with client(url, token) as http:
        d = check(http.post(f"/api/v1/deliveries/{delivery_id}/retry"))
    typer.echo(f"{d['id']}  {d['status']}  attempts={d['attempts']}  {d.get('error') or ''}")


def register(root: typer.Typer) -> None:
    """Add this context's commands to the root `selfheal` app."""
    root.add_typer(app, name="integrations")
