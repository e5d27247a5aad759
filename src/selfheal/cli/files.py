"""Local declarative files checked without a server: reading them, and reporting their errors
the one way every `validate`/`test` verb does (`FILE:LINE: field '…': message`, exit 1)."""

from __future__ import annotations

from pathlib import Path

import typer

from selfheal.core import SpecError


def file_error(path: Path, error: SpecError) -> typer.Exit:
    """Print the error as `FILE:LINE: field '…': message`; the caller raises the exit."""
    where = f":{error.line}" if error.line is not None else ""
    field = f" field '{error.field}':" if error.field else ""
    typer.echo(f"{path}{where}:{field} {error.message}", err=True)
    return typer.Exit(code=1)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"{path}: cannot read: {exc}", err=True)
        raise typer.Exit(code=1) from None


__all__ = ["file_error", "read_text"]
