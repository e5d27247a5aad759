"""Go-template-like placeholders, as Keptn's webhook.yaml uses them: `{{.data.project}}`,
`{{.env.secretKey}}`, `{{.id}}`. Only dotted lookups are supported (no pipelines, no
functions): enough for every documented webhook example, and nothing to evaluate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from selfheal.integrations.errors import IntegrationError

_PLACEHOLDER = re.compile(r"\{\{\s*\.([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")


class MissingValue(IntegrationError):
    """A placeholder names something the event does not contain."""


def lookup(root: Mapping[str, Any], path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MissingValue(f"'{{{{.{path}}}}}' has no value in the event")
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render(
    template: str, values: Mapping[str, Any], *, env: Callable[[str], str] | None = None
) -> str:
    """Replace every placeholder; `.env.X` is resolved through `env` (secrets), lazily."""

    def sub(match: re.Match[str]) -> str:
        path = match.group(1)
        if path.startswith("env."):
            if env is None:
                raise MissingValue(f"'{{{{.{path}}}}}' needs a secret but none are available")
            return env(path[4:])
        return _as_text(lookup(values, path))

    return _PLACEHOLDER.sub(sub, template)


def names(template: str) -> list[str]:
    """The dotted paths a template uses (for dry-run checks)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]
