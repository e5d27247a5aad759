"""integrations.yaml: which integrations run, their settings, and where secrets come from.

```yaml
secrets:                       # optional: name -> {env: VAR} | {file: path} | {value: …}
  jira-token: {env: JIRA_API_TOKEN}
webhook_secrets:               # optional: project -> secrets its webhook.yaml may use
  website: [pager]
integrations:
  - name: jira                 # unique; names deliveries and state
    type: jira                 # plugin type (entry point in `selfheal.integrations`)
    enabled: true              # default true
    events: [problem.open, action.finished]   # optional filter on notification kinds
    config: {…}                # the plugin's own settings; secrets as {secret: name}
```
Errors carry the YAML line and the dotted field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from selfheal.integrations.errors import ConfigError
from selfheal.integrations.messages import KINDS

M = TypeVar("M", bound=BaseModel)
_SOURCE_KEYS = frozenset({"env", "file", "value"})


@dataclass(frozen=True, slots=True)
class IntegrationSpec:
    name: str
    type: str
    config: dict[str, Any]
    enabled: bool = True
    events: tuple[str, ...] | None = None
    path: str = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    integrations: tuple[IntegrationSpec, ...] = ()
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    webhook_secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def line(self, path: str) -> int | None:
        """The line of the deepest known node on `path` (1-based)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return None

    def config(self, model: type[M], spec: IntegrationSpec) -> M:
        """Validate a plugin's `config` into its pydantic model, with line-precise errors."""
        try:
            return model.model_validate(spec.config)
        except ValidationError as exc:
            first = exc.errors()[0]
            sub = ".".join(str(p) for p in first["loc"] if p != "[key]")  # a bad key is the key
            where = f"{spec.path}.config" + (f".{sub}" if sub else "")
            raise ConfigError(first["msg"], field=where, line=self.line(where)) from None


def _plain(node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
    lines[path or "$"] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(yaml.safe_load(yaml.serialize(key_node)))
            out[key] = _plain(value_node, f"{path}.{key}" if path else key, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, f"{path}[{i}]", lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_manifest(text: str) -> Manifest:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line) from None
    if root is None:
        return Manifest()
    lines: dict[str, int] = {}
    doc = _plain(root, "", lines)
    if not isinstance(doc, dict):
        raise ConfigError("integrations.yaml must be a mapping", line=1)
    unknown = set(doc) - {"apiVersion", "kind", "secrets", "webhook_secrets", "integrations"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError("unknown top-level key", field=key, line=lines.get(key))
    secrets = _secrets(doc.get("secrets") or {}, lines)
    items = doc.get("integrations") or []
    if not isinstance(items, list):
        raise ConfigError("must be a list", field="integrations", line=lines.get("integrations"))
    specs: list[IntegrationSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = f"integrations[{i}]"
        spec = _spec(item, path, lines)
        if spec.name in seen:
            raise ConfigError(
                f"duplicate integration name {spec.name!r}",
                field=f"{path}.name",
                line=lines.get(f"{path}.name"),
            )
        seen.add(spec.name)
        specs.append(spec)
    grants = _grants(doc.get("webhook_secrets") or {}, lines)
    return Manifest(tuple(specs), secrets, lines, grants)


def _grants(value: Any, lines: Mapping[str, int]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ConfigError(
            "must be a mapping", field="webhook_secrets", line=lines.get("webhook_secrets")
        )
    out: dict[str, tuple[str, ...]] = {}
    for project, names in value.items():
        path = f"webhook_secrets.{project}"
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(
                "a list of secret names granted to the project's webhooks",
                field=path,
                line=lines.get(path),
            )
        out[str(project)] = tuple(names)
    return out


def _secrets(value: Any, lines: Mapping[str, int]) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise ConfigError("must be a mapping", field="secrets", line=lines.get("secrets"))
    out: dict[str, dict[str, str]] = {}
    for name, source in value.items():
        path = f"secrets.{name}"
        if (
            not isinstance(source, dict)
            or len(source) != 1
            or not set(source) <= _SOURCE_KEYS
            or not isinstance(next(iter(source.values())), str)
        ):
            raise ConfigError(
                "a secret source is exactly one of {env: VAR}, {file: path}, {value: text}",
                field=path,
                line=lines.get(path),
            )
        out[str(name)] = dict(source)
    return out


def _spec(item: Any, path: str, lines: Mapping[str, int]) -> IntegrationSpec:
    if not isinstance(item, dict):
        raise ConfigError("an integration is a mapping", field=path, line=lines.get(path))
    unknown = set(item) - {"name", "type", "enabled", "events", "config"}
    if unknown:
        key = f"{path}.{sorted(unknown)[0]}"
        raise ConfigError("unknown key", field=key, line=lines.get(key))
    for key in ("name", "type"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise ConfigError(
                "required text",
                field=f"{path}.{key}",
                line=lines.get(f"{path}.{key}", lines.get(path)),
            )
    config = item.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(
            "must be a mapping", field=f"{path}.config", line=lines.get(f"{path}.config")
        )
    events = item.get("events")
    if events is not None and (
        not isinstance(events, list) or not all(isinstance(e, str) for e in events)
    ):
        raise ConfigError(
            "must be a list of notification kinds",
            field=f"{path}.events",
            line=lines.get(f"{path}.events"),
        )
    unknown_kinds = [e for e in events or () if e not in KINDS]
    if unknown_kinds:
        raise ConfigError(
            f"unknown notification kind {unknown_kinds[0]!r} (known: {', '.join(KINDS)})",
            field=f"{path}.events",
            line=lines.get(f"{path}.events"),
        )
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(
            "must be true or false", field=f"{path}.enabled", line=lines.get(f"{path}.enabled")
        )
    return IntegrationSpec(
        name=item["name"],
        type=item["type"],
        config=config,
        enabled=enabled,
        events=tuple(events) if events is not None else None,
        path=path,
    )
