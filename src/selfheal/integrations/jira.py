"""Jira: one issue per problem occurrence, a comment per step, a transition on resolution.

Jira Cloud speaks REST v3 (descriptions and comments in Atlassian Document Format, Basic auth
with e-mail + API token); Server/Data Center speaks v2 (plain wiki text, Bearer personal
access token or Basic). The issue of a problem is remembered in the plugin's links and found
again by its `selfheal_problem:<id>` label, so a restart never opens a duplicate; its create
delivery carries a dedup key, so neither do replicas nor redelivered events. Comments people
write on the issue flow back onto the problem: polled on the injected clock, and pushed by
Jira's `comment_created` webhook (`POST /api/v1/jira/webhook`, shared secret). Both paths
emit the same event id per comment, so a comment arriving both ways is written once; our own
comments are recognised by id, by the text we sent (the webhook can overtake our POST's
answer) and by the bot's account, and never echo back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from selfheal.core import CloudEvent
from selfheal.integrations import messages as m
from selfheal.integrations import restores
from selfheal.integrations.errors import BadSignature, IntegrationError, MissingSecret
from selfheal.integrations.plugins import PluginContext
from selfheal.integrations.references import SecretRef
from selfheal.integrations.signatures import verify_shared_secret
from selfheal.integrations.transport import HttpRequest, HttpResponse

COMMENT_EVENT = "sh.selfheal.integrations.comment"


class JiraConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    api: Literal["v3", "v2"] = "v3"
    auth: Literal["basic", "bearer"] = "basic"
    user: str | None = None
    token: SecretRef
    project_key: str
    issue_type: str = "Bug"
    resolve_transition: str | None = "Done"
    mitigated_transition: str | None = None
    """The transition of a mitigated problem's issue (e.g. "In Progress"); none: it stays."""
    labels: list[str] = Field(default_factory=list)
    sync_comments: bool = True
    poll_seconds: float = Field(default=60.0, gt=0)
    webhook_secret: SecretRef | None = None
    """Shared secret of Jira's webhook: `?secret=` in its URL or the `X-Hub-Signature` HMAC."""
    messages: m.Templates = Field(default_factory=dict)
    """Notification kind -> comment template (`{{.data.…}}`, `{{.message}}`, …)."""


def adf(*paragraphs: str, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A minimal Atlassian Document Format document: one paragraph per text, then links."""
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs if p
    ]
    for label, href in (links or {}).items():
        content.append(
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": f"{label}: "},
                    {
                        "type": "text",
                        "text": href,
                        "marks": [{"type": "link", "attrs": {"href": href}}],
                    },
                ],
            }
        )
    return {"type": "doc", "version": 1, "content": content}


def adf_text(node: Any) -> str:
    """The plain text of an ADF document (or a v2 string body)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_text(child) for child in node.get("content", [])]
    sep = "\n" if node.get("type") == "doc" else ""
    return sep.join(p for p in parts if p)


def fingerprint(body: Any) -> str:
    """A short digest of a comment's plain text, whitespace-insensitive (ADF or text)."""
    text = " ".join(adf_text(body).split())
    return hashlib.sha256(text.encode()).hexdigest()[:24]


SENT_KEPT = 200
"""How many fingerprints of our own comment texts each ticket remembers."""


class JiraPlugin:
    type = "jira"

    def __init__(self, name: str, config: JiraConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._base = f"{config.url.rstrip('/')}/rest/api/{config.api[1:]}"
        self._poller: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        http = ctx.http
        http.register("issue.find", self._build_find, accept=self._accept_find)
        http.register(
            "issue.create", self._build_create, accept=self._accept_create, settled=self._has_issue
        )
        http.register("comment", self._build_comment, accept=self._accept_comment)
        http.register("transitions", self._build_transitions, accept=self._accept_transitions)
        http.register(
            "transition",
            self._build_transition,
            accept=self._accept_transition,
            settled=self._transitioned,
        )

    # -- requests -------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        token = self.ctx.secrets.get(self.config.token.secret).get_secret_value()
        if self.config.auth == "bearer":
            auth = f"Bearer {token}"
        else:
            pair = f"{self.config.user or ''}:{token}".encode()
            auth = "Basic " + base64.b64encode(pair).decode()
        return {"Authorization": auth, "Accept": "application/json"}

    def _text(self, *paragraphs: str, links: Mapping[str, str] | None = None) -> Any:
        if self.config.api == "v3":
            return adf(*paragraphs, links=links)
        lines = [p for p in paragraphs if p]
        lines += [f"{label}: [{href}]" for label, href in (links or {}).items()]
        return "\n\n".join(lines)

    async def _issue_of(self, problem: str) -> str:
        link = await self.ctx.links.get(f"ticket:{problem}")
        if not link or not link.get("issue"):
            raise IntegrationError(f"no Jira issue exists for problem {problem} yet")
        return str(link["issue"])

    async def _build_find(self, args: Mapping[str, Any]) -> HttpRequest:
        jql = f'project = "{self.config.project_key}" AND labels = "selfheal_problem:{args["problem"]}"'
        path = "search/jql" if self.config.api == "v3" else "search"
        url = f"{self._base}/{path}?jql={quote(jql)}&fields=key&maxResults=1"
        return HttpRequest("GET", url, self._headers())

    async def _build_create(self, args: Mapping[str, Any]) -> HttpRequest:
        links = {
            k: v
            for k, v in (
                ("Problem", args.get("problem_link")),
                ("Sequence", args.get("sequence_link")),
            )
            if v
        }
        description = self._text(*args["paragraphs"], links=links)
        fields = {
            "project": {"key": self.config.project_key},
            "issuetype": {"name": self.config.issue_type},
            "summary": args["summary"],
            "description": description,
            "labels": list(args["labels"]),
        }
        return HttpRequest("POST", f"{self._base}/issue", self._headers(), json={"fields": fields})

    async def _build_comment(self, args: Mapping[str, Any]) -> HttpRequest:
        issue = await self._issue_of(args["problem"])
        links = {"Sequence": args["sequence_link"]} if args.get("sequence_link") else None
        body = {"body": self._text(args["text"], links=links)}
        link = await self.ctx.links.get(f"ticket:{args['problem']}") or {}
        sent = [f for f in link.get("sent", []) if f != fingerprint(body["body"])]
        await self._remember(args["problem"], sent=[*sent, fingerprint(body["body"])][-SENT_KEPT:])
        return HttpRequest(
            "POST", f"{self._base}/issue/{issue}/comment", self._headers(), json=body
        )

    async def _build_transitions(self, args: Mapping[str, Any]) -> HttpRequest:
        issue = await self._issue_of(args["problem"])
        return HttpRequest("GET", f"{self._base}/issue/{issue}/transitions", self._headers())

    async def _build_transition(self, args: Mapping[str, Any]) -> HttpRequest:
        issue = await self._issue_of(args["problem"])
        link = await self.ctx.links.get(f"ticket:{args['problem']}") or {}
        wanted = str(args["transition"]).lower()
        choices: dict[str, str] = link.get("transitions", {})
        tid = choices.get(wanted)
        if tid is None:
            raise IntegrationError(
                f"issue {issue} offers no transition named {args['transition']!r} "
                f"(offers: {', '.join(sorted(choices)) or 'none'})"
            )
        body = {"transition": {"id": tid}}
        return HttpRequest(
            "POST", f"{self._base}/issue/{issue}/transitions", self._headers(), json=body
        )

    async def _has_issue(self, args: Mapping[str, Any]) -> bool:
        """An interrupted create whose answer was remembered needs no second issue."""
        link = await self.ctx.links.get(f"ticket:{args['problem']}") or {}
        return bool(link.get("issue"))

    async def _transitioned(self, args: Mapping[str, Any]) -> bool:
        link = await self.ctx.links.get(f"ticket:{args['problem']}") or {}
        return bool(link.get("state") == args.get("state", "resolved"))

    # -- responses ------------------------------------------------------------------------
    async def _remember(self, problem: str, **values: Any) -> None:
        key = f"ticket:{problem}"
        link = await self.ctx.links.get(key) or {}
        link.update(values)
        await self.ctx.links.put(key, link)

    async def _accept_find(self, args: Mapping[str, Any], response: HttpResponse) -> None:
        body = response.json() or {}
        issues = body.get("issues") or []
        if issues and isinstance(issues[0], dict) and issues[0].get("key"):
            await self._remember(args["problem"], issue=issues[0]["key"], state="open")

    async def _accept_create(self, args: Mapping[str, Any], response: HttpResponse) -> None:
        body = response.json() or {}
        await self._remember(
            args["problem"], issue=body.get("key"), id=body.get("id"), state="open"
        )

    async def _accept_comment(self, args: Mapping[str, Any], response: HttpResponse) -> None:
        body = response.json() or {}
        if body.get("id"):
            link = await self.ctx.links.get(f"ticket:{args['problem']}") or {}
            await self._remember(args["problem"], ours=[*link.get("ours", []), str(body["id"])])

    async def _accept_transitions(self, args: Mapping[str, Any], response: HttpResponse) -> None:
        choices: dict[str, str] = {}
        for t in (response.json() or {}).get("transitions", []):
            if isinstance(t, dict) and t.get("id"):
                choices[str(t.get("name", "")).lower()] = str(t["id"])
                to = t.get("to")
                if isinstance(to, dict) and to.get("name"):
                    choices.setdefault(str(to["name"]).lower(), str(t["id"]))
        await self._remember(args["problem"], transitions=choices)

    async def _accept_transition(self, args: Mapping[str, Any], _response: HttpResponse) -> None:
        await self._remember(args["problem"], state=args.get("state", "resolved"))

    # -- notifications --------------------------------------------------------------------
    async def notify(self, n: m.Notification) -> None:
        if n.problem is None:
            return
        meta = {
            "problem": n.problem.key,
            "keptn_context": n.keptn_context,
            "event_type": n.event.type,
        }
        if n.kind in (m.PROBLEM_OPEN, m.SEQUENCE_TRIGGERED) or n.is_step or n.kind == m.ESCALATION:
            await self._ensure_issue(n, meta)
        commented = n.is_step or n.kind in (m.SEQUENCE_FINISHED, m.ESCALATION, m.PROBLEM_RESOLVED)
        if commented or n.kind in m.COURSE:
            link = await self.ctx.links.get(f"ticket:{n.problem.key}")
            if link is None:
                return  # nothing was ever opened for this problem (e.g. resolved before we ran)
            await self.ctx.http.deliver(
                "comment",
                {
                    "problem": n.problem.key,
                    "text": m.worded(n, self.config.messages),
                    "sequence_link": n.sequence_link,
                },
                dedup_key=f"{self.name}:comment:{n.event.source}:{n.event.id}",
                **meta,
            )
            if (
                n.kind == restores.MITIGATED
                and self.config.mitigated_transition
                and link.get("state") != "resolved"
            ):
                await self._transition(n, self.config.mitigated_transition, "mitigated", meta)
        resolved = n.kind == m.PROBLEM_RESOLVED or restores.restored(n.kind, n.event.payload())
        if resolved and self.config.resolve_transition:
            await self._transition(n, self.config.resolve_transition, "resolved", meta)

    async def _transition(
        self, n: m.Notification, name: str, state: str, meta: dict[str, Any]
    ) -> None:
        """Move the issue by the transition's name (Jira lists them per issue status); once
        per problem and state (a restored problem is resolved by the restore's end and by the
        RESOLVED that follows it)."""
        assert n.problem is not None
        args = {"problem": n.problem.key, "transition": name, "state": state}
        if await self._transitioned(args):
            return
        listed = await self.ctx.http.deliver("transitions", args, **meta)
        if listed.status == "succeeded":
            suffix = "" if state == "resolved" else f":{state}"
            await self.ctx.http.deliver(
                "transition",
                args,
                dedup_key=f"{self.name}:transition:{n.problem.key}{suffix}",
                **meta,
            )

    async def _ensure_issue(self, n: m.Notification, meta: dict[str, Any]) -> None:
        assert n.problem is not None
        key = f"ticket:{n.problem.key}"
        link = await self.ctx.links.get(key)
        if link and link.get("issue"):
            return
        if link is None:
            await self.ctx.links.put(key, {"state": "creating"})
            await self.ctx.http.deliver("issue.find", {"problem": n.problem.key}, **meta)
            link = await self.ctx.links.get(key)
            if link and link.get("issue"):
                return
        project, service, stage = n.project or "?", n.service or "?", n.stage or "?"
        details = n.problem.details
        evidence = json.dumps(details, indent=2, sort_keys=True) if details else ""
        args = {
            "problem": n.problem.key,
            "summary": f"[PROBLEM] {project} - {service} - {stage} - {n.problem.title}",
            "paragraphs": [
                f"Problem {n.problem.display_id}: {n.problem.title} ({n.problem.state})",
                f"Project {project}, stage {stage}, service {service}.",
                f"Evidence: {evidence}" if evidence else "",
                f"Source: {n.problem.url}" if n.problem.url else "",
            ],
            "labels": [
                f"keptn_project:{project}",
                f"keptn_service:{service}",
                f"keptn_stage:{stage}",
                f"selfheal_problem:{n.problem.key}",
                *self.config.labels,
            ],
            "problem_link": n.problem_link,
            "sequence_link": n.sequence_link,
        }
        await self.ctx.http.deliver(
            "issue.create", args, dedup_key=f"{self.name}:create:{n.problem.key}", **meta
        )

    # -- comments flowing back ------------------------------------------------------------
    async def sync_comments(self) -> int:
        """Read new comments on open issues and emit them for the problem; returns how many."""
        emitted = 0
        for key, link in await self.ctx.links.scan("ticket:"):
            issue = link.get("issue")
            if not issue or link.get("synced_closed"):
                continue
            request = HttpRequest(
                "GET",
                f"{self._base}/issue/{issue}/comment?orderBy=created&maxResults=100",
                self._headers(),
            )
            response = await self.ctx.http.fetch(request)
            if response is None or response.status != 200:
                continue
            problem = key.split(":", 1)[1]
            comments = (response.json() or {}).get("comments", [])
            emitted += await self._take(problem, str(issue), link, comments)
            await self._remember(problem, synced_closed=link.get("state") == "resolved")
        return emitted

    async def receive(self, payload: Mapping[str, Any]) -> int:
        """A verified webhook body from Jira; returns how many comments it brought."""
        if payload.get("webhookEvent") != "comment_created":
            return 0
        issue = (payload.get("issue") or {}).get("key")
        comment = payload.get("comment")
        if not issue or not isinstance(comment, dict):
            return 0
        for key, link in await self.ctx.links.scan("ticket:"):
            if link.get("issue") == issue:
                return await self._take(key.split(":", 1)[1], str(issue), link, [comment])
        return 0  # an issue we did not open

    async def _take(
        self, problem: str, issue: str, link: Mapping[str, Any], comments: list[Any]
    ) -> int:
        """Emit the comments not seen before and not ours; remember them as seen."""
        seen = set(link.get("seen", [])) | set(link.get("ours", []))
        sent = set(link.get("sent", []))
        emitted = 0
        for comment in comments:
            if not isinstance(comment, dict):
                continue
            cid = str(comment.get("id", ""))
            if not cid or cid in seen:
                continue
            seen.add(cid)
            if self._is_ours(comment) or fingerprint(comment.get("body")) in sent:
                continue
            author = (comment.get("author") or {}).get("displayName") or "jira"
            fresh = await self.ctx.emit(
                CloudEvent(
                    type=COMMENT_EVENT,
                    source=f"selfheal/integrations/{self.name}",
                    id=f"{self.name}:{issue}:{cid}",
                    data={
                        "problem": problem,
                        "message": adf_text(comment.get("body")),
                        "author": f"{author} (Jira {issue})",
                        "context": "jira",
                    },
                )
            )
            emitted += 1 if fresh else 0
        current = await self.ctx.links.get(f"ticket:{problem}") or {}
        await self._remember(problem, seen=sorted(seen | set(current.get("seen", []))))
        return emitted

    def _is_ours(self, comment: Mapping[str, Any]) -> bool:
        author = comment.get("author") or {}
        user = self.config.user
        return bool(user) and user in (
            author.get("emailAddress"),
            author.get("name"),
            author.get("accountId"),
        )

    def verify(self, *, secret: str | None, signature: str | None, body: bytes) -> None:
        """Raise BadSignature unless the webhook carries this integration's shared secret."""
        if self.config.webhook_secret is None:
            raise BadSignature(f"integration {self.name} takes no Jira webhooks")
        try:
            ref = self.config.webhook_secret.secret
            expected = self.ctx.secrets.get(ref).get_secret_value()
        except MissingSecret:
            raise BadSignature(f"the webhook secret of {self.name} is not set") from None
        verify_shared_secret(expected, secret=secret, signature=signature, body=body)

    async def _poll(self) -> None:
        while not self._stopping.is_set():
            await self.ctx.clock.sleep(self.config.poll_seconds)
            if self._stopping.is_set():
                return
            try:
                await self.sync_comments()
            except IntegrationError as exc:
                self.ctx.log.warning("jira comment sync failed: %s", exc)

    async def start(self) -> None:
        if self.config.sync_comments:
            self._poller = asyncio.create_task(self._poll(), name=f"jira-poll:{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass


def create(name: str, config: Mapping[str, Any], ctx: PluginContext) -> JiraPlugin:
    return JiraPlugin(name, JiraConfig.model_validate(config), ctx)
