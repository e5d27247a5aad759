"""Keptn's webhook.yaml: HTTP requests to send when a task event arrives.

`webhookconfig.keptn.sh/v1beta1` (structured requests) and `v1alpha1` (requests written as
`curl` commands, accepted when they use only -X, -H, -d/--data and --insecure). URLs, headers
and payloads may contain `{{.data.…}}` / `{{.env.…}}` templates; those are expanded when sent.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from selfheal.core.documents import Node, check_header, parse_document

WEBHOOK_API = re.compile(r"webhookconfig\.keptn\.sh/v1(alpha1|beta1)")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
INSECURE = ("--insecure", "-k")
_EVENT = re.compile(r"sh\.keptn\.event\.[A-Za-z0-9_-]+\.(triggered|started|finished)")
_URL = re.compile(r"(https?://|\{\{).+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Header:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    url: str
    method: str = "POST"
    headers: tuple[Header, ...] = ()
    payload: str = ""
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class SecretEnv:
    """`envFrom` entry: `{{.env.<name>}}` takes the value of secret `secret`'s `key`."""

    name: str
    secret: str
    key: str


@dataclass(frozen=True, slots=True)
class Webhook:
    type: str
    requests: tuple[WebhookRequest, ...]
    subscription_id: str = ""
    send_started: bool = True
    send_finished: bool = True
    env_from: tuple[SecretEnv, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    webhooks: tuple[Webhook, ...]
    api_version: str
    name: str = ""

    def for_event(self, event_type: str, subscription_id: str | None = None) -> tuple[Webhook, ...]:
        return tuple(
            hook
            for hook in self.webhooks
            if hook.type == event_type
            and (
                subscription_id is None
                or not hook.subscription_id
                or hook.subscription_id == subscription_id
            )
        )


def load_webhook(text: str) -> WebhookConfig:
    root = parse_document(text)
    root.only(("apiVersion", "kind", "metadata", "spec"))
    version = check_header(root, api_version=WEBHOOK_API, kind="WebhookConfig")
    spec = root.require("spec")
    spec.only(("webhooks",))
    alpha = version.endswith("v1alpha1")
    hooks = tuple(_webhook(node, alpha) for node in spec.require("webhooks").sequence())
    name = ""
    metadata = root.get("metadata")
    if metadata is not None and metadata.value is not None:
        raw = metadata.get("name")
        name = raw.text() if raw is not None and raw.value is not None else ""
    return WebhookConfig(webhooks=hooks, api_version=version, name=name)


def _flag(node: Node, key: str) -> bool:
    raw = node.get(key)
    return True if raw is None or raw.value is None else raw.boolean()


def _webhook(node: Node, alpha: bool) -> Webhook:
    node.only(("type", "subscriptionID", "sendStarted", "sendFinished", "envFrom", "requests"))
    type_node = node.require("type")
    if not _EVENT.fullmatch(type_node.string()):
        raise type_node.fail("must be 'sh.keptn.event.<task>.triggered|started|finished'")
    sub = node.get("subscriptionID")
    requests = node.require("requests").sequence()
    if not requests:
        raise node.require("requests").fail("must list at least one request")
    env = node.get("envFrom")
    return Webhook(
        type=str(type_node.value),
        requests=tuple(_curl(r) if alpha else _request(r) for r in requests),
        subscription_id=sub.text() if sub is not None and sub.value is not None else "",
        send_started=_flag(node, "sendStarted"),
        send_finished=_flag(node, "sendFinished"),
        env_from=() if env is None or env.value is None else tuple(_env(e) for e in env.sequence()),
    )


def _env(node: Node) -> SecretEnv:
    node.only(("name", "secretRef"))
    ref = node.require("secretRef")
    ref.only(("name", "key"))
    return SecretEnv(
        name=node.require("name").string(),
        secret=ref.require("name").string(),
        key=ref.require("key").string(),
    )


def _request(node: Node) -> WebhookRequest:
    if isinstance(node.value, str):
        raise node.fail(
            "v1beta1 requests are mappings {url, method, …}; curl strings need v1alpha1"
        )
    node.only(("url", "method", "headers", "payload", "options"))
    url_node = node.require("url")
    if not _URL.fullmatch(url_node.string()):
        raise url_node.fail("must be an http:// or https:// URL")
    method_node = node.get("method")
    method = "POST"
    if method_node is not None and method_node.value is not None:
        method = method_node.string().upper()
        if method not in METHODS:
            raise method_node.fail(f"must be one of: {', '.join(METHODS)}")
    headers: list[Header] = []
    raw_headers = node.get("headers")
    if raw_headers is not None and raw_headers.value is not None:
        for item in raw_headers.sequence():
            item.only(("key", "value"))
            headers.append(Header(item.require("key").string(), item.require("value").text()))
    payload = node.get("payload")
    options = node.get("options")
    insecure = False
    if options is not None and options.value is not None:
        words = options.string(empty=True).split()
        unknown = [w for w in words if w not in INSECURE]
        if unknown:
            raise options.fail(f"unsupported option {unknown[0]!r} (only --insecure)")
        insecure = bool(words)
    return WebhookRequest(
        url=str(url_node.value),
        method=method,
        headers=tuple(headers),
        payload=payload.string(empty=True)
        if payload is not None and payload.value is not None
        else "",
        insecure=insecure,
    )


def _curl(node: Node) -> WebhookRequest:
    """A v1alpha1 `curl …` request; only the options that map onto v1beta1 are understood."""
    command = node.string()
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise node.fail(f"cannot split the curl command: {exc}") from None
    if not words or words[0] != "curl":
        raise node.fail("must be a curl command")
    method, url, payload, insecure = "", "", "", False
    headers: list[Header] = []
    rest = iter(words[1:])
    for word in rest:
        if word in INSECURE:
            insecure = True
        elif word in ("-X", "--request", "-H", "--header", "-d", "--data", "--data-raw"):
            argument = next(rest, None)
            if argument is None:
                raise node.fail(f"curl option {word} needs a value")
            if word in ("-X", "--request"):
                method = argument.upper()
            elif word in ("-H", "--header"):
                key, sep, value = argument.partition(":")
                if not sep:
                    raise node.fail(f"header {argument!r} is not 'Name: value'")
                headers.append(Header(key.strip(), value.strip()))
            else:
                payload = argument
        elif word.startswith("-"):
            raise node.fail(f"unsupported curl option {word!r}; use the v1beta1 request form")
        elif url:
            raise node.fail("a curl command may hold only one URL")
        else:
            url = word
    if not _URL.fullmatch(url):
        raise node.fail("the curl command needs an http:// or https:// URL")
    method = method or ("POST" if payload else "GET")
    if method not in METHODS:
        raise node.fail(f"method must be one of: {', '.join(METHODS)}")
    return WebhookRequest(url, method, tuple(headers), payload, insecure)


__all__ = [
    "Header",
    "SecretEnv",
    "Webhook",
    "WebhookConfig",
    "WebhookRequest",
    "load_webhook",
]
