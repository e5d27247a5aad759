"""CLI commands of the monitor context: `selfheal monitor apply|validate|status`,
`selfheal problems …`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from selfheal.cli.client import TokenOption, UrlOption, check, client
from selfheal.cli.files import file_error, read_text
from selfheal.core import SpecError
from selfheal.monitor import load_services

monitor_app = typer.Typer(help="Monitored services (monitor.yaml).", no_args_is_help=True)
problems_app = typer.Typer(help="Problems and their comments.", no_args_is_help=True)


@monitor_app.command("apply")
def apply(
    file: Path = typer.Option(..., "-f", "--file", exists=True, readable=True, help="monitor.yaml"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """Declare (add or replace) the services of a monitor.yaml on the server."""
    with client(url, token) as http:
        body = check(http.post("/api/v1/monitor/services", content=file.read_bytes()))
    typer.echo("applied: " + ", ".join(body["applied"]))


@monitor_app.command("validate")
def validate(files: list[Path] = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Check monitor.yaml files without a server (exit 1 naming the key and line)."""
    failed = False
    for path in files:
        try:
            declared = load_services(read_text(path))
        except SpecError as exc:
            file_error(path, exc)
            failed = True
            continue
        names = ", ".join(spec.name for spec, _ in declared) or "no services"
        typer.echo(f"{path}: ok ({names})")
    if failed:
        raise typer.Exit(code=1)


@monitor_app.command("status")
def status(url: str | None = UrlOption, token: str | None = TokenOption) -> None:
    """Each monitored service with its state (ok, no_data, pending)."""
    with client(url, token) as http:
        body = check(http.get("/api/v1/monitor/services"))
    for s in body["services"]:
        reason = f" ({s['reason']})" if s.get("reason") else ""
        flag = " PROBLEM OPEN" if s.get("problemOpen") else ""
        typer.echo(
            f"{s['name']:<24} {s['state']:<8} {s['source']['kind']} {s['source']['url']}{reason}{flag}"
        )


@problems_app.command("list")
def list_problems(
    status_: str | None = typer.Option(
        None, "--status", help="OPEN, CLOSED (resolved or closed by hand) or RESOLVED"
    ),
    as_json: bool = typer.Option(False, "--json"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    params = {"status": status_} if status_ else {}
    with client(url, token) as http:
        body = check(http.get("/api/v2/problems", params=params))
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    for p in body["problems"]:
        state = p.get("state") or p["status"]  # ours is richer than Dynatrace's OPEN/CLOSED
        if p.get("mitigated"):  # OPEN to Dynatrace; served by the fallback meanwhile
            state = "MITIGATED"
        entity = p["impactedEntities"][0]["name"] if p["impactedEntities"] else "?"
        typer.echo(f"{p['displayId']:<8} {state:<9} {p['title']} [{entity}] {p['problemId']}")


@problems_app.command("comment")
def comment(
    problem_id: str = typer.Argument(..., help="problem id, display id (P-1) or PID"),
    message: str = typer.Argument(...),
    context: str = typer.Option("cli", "--context"),
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    with client(url, token) as http:
        check(
            http.post(
                f"/api/v2/problems/{problem_id}/comments",
                json={"message": message, "context": context},
            )
        )
    typer.echo("comment added")


def register(app: typer.Typer) -> None:
    """Add this context's commands to the root `selfheal` app."""
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(problems_app, name="problems")
    app.add_typer(problems_app, name="problem", hidden=True)
