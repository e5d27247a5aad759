"""CLI commands for restores (bringing traffic back from a kill switch): `selfheal restore
list|show`, and the people's decisions `now|keep-fallback|resume|approve|reject ID` — the
same as the problem page's banner buttons, through `/api/v1/restores`."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import typer

from selfheal.cli.client import TokenOption, UrlOption, check, client

app = typer.Typer(
    help="Restores: where bringing traffic back stands, and your decisions.",
    no_args_is_help=True,
)
JsonOption = typer.Option(False, "--json", help="print JSON")
IdArgument = typer.Argument(..., help="the restore's id (its remediation's keptnContext)")


def _clock(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def state_words(r: dict[str, Any]) -> str:
    """The state as the console's badge says it: "stepping 50 % on the fallback"."""
    state = str(r.get("state"))
    if state == "stepping":
        return f"stepping {r.get('fallbackPercent')} % on the fallback"
    if state == "held":
        return f"held until {_clock(r.get('holdUntil'))}"
    if state == "backoff":
        return f"backing off until {_clock(r.get('due'))}"
    return {
        "armed": "armed, waiting for mitigation",
        "verifying": "verifying the origin",
        "approval": "awaiting approval",
        "kept": "kept on the fallback until resumed",
    }.get(state, state)


def _path(restore_id: str) -> str:
    if not restore_id.strip() or "/" in restore_id:
        typer.echo(f"error: {restore_id!r} is not a restore id", err=True)
        raise typer.Exit(2)
    return f"/api/v1/restores/{quote(restore_id, safe='')}"


@app.command("list")
def list_restores(
    problem: str | None = typer.Option(None, "--problem", help="only this problem's (its PID)"),
    active: bool = typer.Option(False, "--active", help="only those not restored or closed"),
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """List restores, newest first."""
    params: dict[str, str] = {}
    if problem:
        params["problem"] = problem
    if active:
        params["active"] = "true"
    with client(url, token) as http:
        body = check(http.get("/api/v1/restores", params=params))
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    if not body["restores"]:
        typer.echo("no restores")
        return
    for r in body["restores"]:
        typer.echo(
            f"{r['id']}  {r['project']}/{r['stage']}/{r['service']}  problem {r['problemId']}"
            f"  {r['flag']}  {state_words(r)}"
        )


@app.command("show")
def show(
    restore_id: str = IdArgument,
    as_json: bool = JsonOption,
    url: str | None = UrlOption,
    token: str | None = TokenOption,
) -> None:
    """One restore: its state, the kill switch, the steps, who held it, what it waits for."""
    with client(url, token) as http:
        r = check(http.get(_path(restore_id)))
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    _describe(r)


def _describe(r: dict[str, Any]) -> None:
    steps = " → ".join(f"{s} %" for s in r.get("steps") or [])
    lines = [
        f"restore {r['id']}: {state_words(r)}",
        f"  problem   {r['problemId']} ({r['project']}/{r['stage']}/{r['service']})",
        f"  flag      {r['flag']} in {r['environment']}"
        + (
            f", {r['fallbackPercent']} % of users on the fallback"
            if r.get("fallbackPercent") is not None
            else ""
        ),
        f"  steps     {steps} (fallback share per step)",
        f"  attempts  {r.get('attemptsLastHour', 0)} in the last hour,"
        f" {r.get('failures', 0)} breach(es) in a row",
    ]
    if r.get("heldBy"):
        lines.append(f"  by        {r['heldBy']}")
    if r.get("outcome"):
        lines.append(f"  outcome   {r['outcome']}")
    lines.append(f"  {r.get('message') or ''}")
    typer.echo("\n".join(lines))


def _decision(decision: str, doc: str) -> Any:
    def command(
        restore_id: str = IdArgument,
        as_json: bool = JsonOption,
        url: str | None = UrlOption,
        token: str | None = TokenOption,
    ) -> None:
        with client(url, token) as http:
            r = check(http.post(f"{_path(restore_id)}/{decision}", json={}))
        if as_json:
            typer.echo(json.dumps(r, indent=2))
            return
        _describe(r)

    command.__doc__ = doc
    return command


DECISIONS = {
    "now": (
        "restore-now",
        "Restore now: the progressive restore at once (no probes, approval or hourly cap).",
    ),
    "keep-fallback": (
        "keep-fallback",
        "Keep the fallback: every user on it, no restore until resumed.",
    ),
    "resume": ("resume", "Resume automation of a held or kept restore."),
    "approve": ("approve", "Approve a restore that waits for an approval."),
    "reject": ("reject", "Reject a restore that waits for an approval (the fallback stays)."),
}

for _name, (_decided, _doc) in DECISIONS.items():
    app.command(_name)(_decision(_decided, _doc))


def register(root: typer.Typer) -> None:
    """Add the restore commands to the root `selfheal` app."""
    root.add_typer(app, name="restore")
