"""Slack: an incoming webhook, or a bot token with one thread per problem.

With a bot token the first notification about a problem opens a thread (`chat.postMessage`)
and every later step is a reply in it (`thread_ts`). Approval steps carry Approve/Reject
buttons whose clicks come back through Slack's interactive endpoint, verified with the app's
signing secret before anything is approved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selfheal.integrations import messages as m
from selfheal.integrations import restores
from selfheal.integrations.errors import BadSignature
from selfheal.integrations.plugins import PluginContext
from selfheal.integrations.references import SecretRef
from selfheal.integrations.signatures import verify_slack
from selfheal.integrations.transport import HttpRequest, HttpResponse

APPROVE = "selfheal_approve"
REJECT = "selfheal_reject"
_ICONS = {
    m.PROBLEM_OPEN: ":red_circle:",
    m.PROBLEM_RESOLVED: ":large_green_circle:",
    m.SEQUENCE_FINISHED: ":checkered_flag:",
    m.ESCALATION: ":rotating_light:",
    m.APPROVAL: ":raised_hand:",
    restores.MITIGATED: ":large_blue_circle:",
    restores.ORIGIN_VERIFIED: ":white_check_mark:",
    restores.RESTORE_STEP: ":arrow_forward:",
    restores.RESTORE_BREACHED: ":warning:",
    restores.RESTORE_HELD: ":double_vertical_bar:",
    restores.RESTORE_DECIDED: ":bust_in_silhouette:",
    restores.RESTORE_FINISHED: ":large_green_circle:",
}


class SlackConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_url: SecretRef | None = None
    bot_token: SecretRef | None = None
    channel: str | None = None
    api_url: str = "https://slack.com/api"
    signing_secret: SecretRef | None = None
    messages: m.Templates = Field(default_factory=dict)
    """Notification kind -> message template (`{{.data.…}}`, `{{.message}}`, …)."""

    @model_validator(mode="after")
    def _one_way(self) -> SlackConfig:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("set exactly one of webhook_url and bot_token")
        if self.bot_token is not None and not self.channel:
            raise ValueError("a bot token needs a channel")
        return self


@dataclass(frozen=True, slots=True)
class Decision:
    keptn_context: str
    approved: bool
    user: str


def _check_api(response: HttpResponse) -> str | None:
    body = response.json()
    if isinstance(body, dict) and body.get("ok") is False:
        return str(body.get("error") or "slack_error")
    return None


class SlackPlugin:
    type = "slack"

    def __init__(self, name: str, config: SlackConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        ctx.http.register("message", self._build_message, check=_check_api)
        ctx.http.register("thread", self._build_message, check=_check_api, accept=self._accept_root)

    def _blocks(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        text = args["text"]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}
        ]
        links = [f"<{url}|{label}>" for label, url in args.get("links", []) if url]
        if links:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
            )
        if args.get("approval"):
            value = args["approval"]
            blocks.append(
                {
                    "type": "actions",
                    "block_id": "selfheal_approval",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": APPROVE,
                            "style": "primary",
                            "value": value,
                            "text": {"type": "plain_text", "text": "Approve"},
                        },
                        {
                            "type": "button",
                            "action_id": REJECT,
                            "style": "danger",
                            "value": value,
                            "text": {"type": "plain_text", "text": "Reject"},
                        },
                    ],
                }
            )
        return blocks

    async def _build_message(self, args: Mapping[str, Any]) -> HttpRequest:
        body: dict[str, Any] = {"text": args["text"], "blocks": self._blocks(args)}
        if self.config.webhook_url is not None:
            url = self.ctx.secrets.get(self.config.webhook_url.secret).get_secret_value()
            return HttpRequest("POST", url, {"Content-Type": "application/json"}, json=body)
        assert self.config.bot_token is not None
        token = self.ctx.secrets.get(self.config.bot_token.secret).get_secret_value()
        body["channel"] = self.config.channel
        if args.get("thread"):
            thread = await self.ctx.links.get(f"thread:{args['thread']}")
            if thread and thread.get("ts"):
                body["thread_ts"] = thread["ts"]
                body["channel"] = thread.get("channel") or self.config.channel
            # no thread (its opening message is a dead letter): post to the channel instead
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=utf-8",
        }
        return HttpRequest(
            "POST", f"{self.config.api_url.rstrip('/')}/chat.postMessage", headers, json=body
        )

    async def _accept_root(self, args: Mapping[str, Any], response: HttpResponse) -> None:
        body = response.json() or {}
        await self.ctx.links.put(
            f"thread:{args['root']}", {"ts": body.get("ts"), "channel": body.get("channel")}
        )

    def _text(self, n: m.Notification) -> str:
        icon = _ICONS.get(n.kind, ":gear:")
        if n.kind == restores.RESTORE_FINISHED and not restores.restored(n.kind, n.event.payload()):
            icon = ":gear:"
        scope = " / ".join(x for x in (n.project, n.stage, n.service) if x)
        title = f" *{n.problem.title}*" if n.problem and n.kind == m.PROBLEM_OPEN else ""
        text = m.worded(n, self.config.messages)
        return f"{icon}{title} {text}" + (f" ({scope})" if scope else "")

    async def notify(self, n: m.Notification) -> None:
        if not n.message:
            return  # a bare Keptn event (get-action, evaluation.triggered …) is for webhooks
        meta = {
            "problem": n.problem.key if n.problem else None,
            "keptn_context": n.keptn_context,
            "event_type": n.event.type,
            "dedup_key": f"{self.name}:{n.event.source}:{n.event.id}",
        }
        args: dict[str, Any] = {
            "text": self._text(n),
            "links": [("Problem", n.problem_link), ("Sequence", n.sequence_link)],
        }
        if n.kind == m.APPROVAL and n.keptn_context:
            args["approval"] = n.keptn_context
        thread = n.problem.key if n.problem else n.keptn_context
        if self.config.bot_token is None or thread is None:
            await self.ctx.http.deliver("message", args, **meta)
            return
        if await self.ctx.links.get(f"thread:{thread}") is None:
            root = {"text": self._root_text(n), "links": args["links"], "root": thread}
            await self.ctx.http.deliver(
                "thread", root, **{**meta, "dedup_key": f"{self.name}:root:{thread}"}
            )
            if n.kind == m.PROBLEM_OPEN:
                return  # the root message is the announcement
        await self.ctx.http.deliver("message", {**args, "thread": thread}, **meta)

    def _root_text(self, n: m.Notification) -> str:
        if n.kind == m.PROBLEM_OPEN and self.config.messages.get("problem.open"):
            return f":red_circle: {m.worded(n, self.config.messages)}"
        scope = " - ".join(x or "?" for x in (n.project, n.service, n.stage))
        title = n.problem.title if n.problem else "remediation"
        ident = f" ({n.problem.display_id})" if n.problem else ""
        return f":red_circle: [PROBLEM] {scope} - {title}{ident}"

    def decide(self, headers: Mapping[str, str], body: bytes) -> Decision | None:
        """Verify an interactive request and read the button click; None if it is no click."""
        if self.config.signing_secret is None:
            raise BadSignature("this Slack integration has no signing_secret configured")
        secret = self.ctx.secrets.get(self.config.signing_secret.secret).get_secret_value()
        verify_slack(
            secret,
            timestamp=headers.get("x-slack-request-timestamp"),
            signature=headers.get("x-slack-signature"),
            body=body,
            now=self.ctx.clock.now(),
        )
        raw = parse_qs(body.decode("utf-8", "replace")).get("payload", [""])[0]
        try:
            payload = json.loads(raw)
        except ValueError:
            return None
        user = payload.get("user") or {}
        who = user.get("username") or user.get("name") or user.get("id") or "slack"
        for action in payload.get("actions") or []:
            if action.get("action_id") in (APPROVE, REJECT) and action.get("value"):
                return Decision(
                    str(action["value"]), action["action_id"] == APPROVE, f"slack:{who}"
                )
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def create(name: str, config: Mapping[str, Any], ctx: PluginContext) -> SlackPlugin:
    return SlackPlugin(name, SlackConfig.model_validate(config), ctx)
