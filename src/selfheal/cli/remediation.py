"""`selfheal remediation test|validate`: dry-run the control files without a server.

`test` shows which actions would run, in which order, for a given problem, and which flags each
toggle-feature would switch; `validate` checks any control files. An invalid file exits 1 with
`FILE:LINE: field '…': message`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from selfheal.cli.files import file_error, read_text
from selfheal.control.specs import (
    Remediation,
    Shipyard,
    SpecError,
    load_remediation,
    load_shipyard,
    spec_kind,
    validate_resource,
)

remediation_app = typer.Typer(
    help="Dry-run remediation files: which actions would run for a problem.",
    no_args_is_help=True,
)

_FILE = typer.Argument(..., exists=True, dir_okay=False, readable=True)


def _changes(flags: dict[str, bool]) -> str:
    return ", ".join(f"{flag} → {'on' if on else 'off'}" for flag, on in flags.items())


@remediation_app.command("test")
def test(
    file: Path = _FILE,
    problem_title: str = typer.Option(..., "--problem-title", help="the problem's title"),
    root_cause: str | None = typer.Option(None, "--root-cause", help="the problem's root cause"),
    shipyard: Path | None = typer.Option(
        None, "--shipyard", exists=True, dir_okay=False, help="shipyard.yaml to check the stage"
    ),
    stage: str = typer.Option("production", "--stage", help="stage whose remediation runs"),
) -> None:
    """Show the actions a problem would get, in order, without a server."""
    console = Console()
    try:
        remediation: Remediation = load_remediation(read_text(file))
    except SpecError as exc:
        raise file_error(file, exc) from None
    if shipyard is not None:
        try:
            yard: Shipyard = load_shipyard(read_text(shipyard))
        except SpecError as exc:
            raise file_error(shipyard, exc) from None
        sequence = yard.sequence(stage, "remediation")
        if sequence is None:
            typer.echo(f"{shipyard}: stage {stage!r} has no remediation sequence", err=True)
            raise typer.Exit(code=1)
        steps = " → ".join(
            f"{task.name} (after {task.triggered_after:g}s)" if task.triggered_after else task.name
            for task in sequence.tasks
        )
        console.print(f"Sequence {stage}.remediation: {steps}")
    actions = remediation.actions_for(problem_title, root_cause)
    if not actions:
        console.print(f"No action matches problem {problem_title!r} (and no 'default' entry).")
        return
    table = Table(
        title=f"Actions for {problem_title!r}, tried in order until the evaluation passes"
    )
    for column in ("#", "name", "action", "description", "changes"):
        table.add_column(column)
    for index, action in enumerate(actions, start=1):
        try:
            changes = _changes(action.flag_changes()) if action.action == "toggle-feature" else ""
        except SpecError as exc:
            changes = f"invalid value: {exc.message}"
        table.add_row(str(index), action.name, action.action, action.description, changes)
    console.print(table)


@remediation_app.command("validate")
def validate(files: list[Path] = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Check control files (shipyard, remediation, slo, sli, webhook) by their file names."""
    failed = False
    for path in files:
        if spec_kind(path.name) is None:
            typer.echo(f"{path}: skipped (not a control file name)")
            continue
        try:
            validate_resource(path.name, read_text(path))
        except SpecError as exc:
            file_error(path, exc)
            failed = True
            continue
        typer.echo(f"{path}: ok")
    if failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add this context's commands to the root `selfheal` app."""
    app.add_typer(remediation_app, name="remediation")
