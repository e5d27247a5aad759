"""The `webhook` action: Keptn's webhook.yaml (v1beta1, or v1alpha1 curl) as a remediation step.

The project's `webhook/webhook.yaml` (or the resource named by the action's `resource` value)
is read at the sequence's revision; the requests configured for
`sh.keptn.event.action.triggered` are rendered against the triggered event (`{{.data.project}}`,
`{{.shkeptncontext}}`…) and `{{.env.name}}` secrets, checked against the URL deny-list and sent
through the outbox. Only the templates are stored, so no secret reaches the delivery record.
A webhook reads only the secrets granted to its project (`SecretGrants`): checked before
anything is queued, and again when each request is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from selfheal.control import ActionRequest, ActionResult
from selfheal.control.specs import SpecError, load_webhook
from selfheal.core import iso_from_epoch
from selfheal.core.keptn import task_event
from selfheal.delivery import Outbox
from selfheal.integrations.addresses import UrlGuard
from selfheal.integrations.grants import SecretGrants, references
from selfheal.integrations.outbox import HttpSender
from selfheal.integrations.placeholders import render
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.secrets import Secrets
from selfheal.integrations.transport import HttpClient, HttpRequest

NAMES = ("webhook",)
INTEGRATION = "webhook-action"
DEFAULT_RESOURCE = "webhook/webhook.yaml"
EVENT_TYPE = task_event("action", "triggered")


class WebhookActionProvider:
    names = NAMES

    def __init__(
        self,
        *,
        outbox: Outbox,
        http: HttpClient,
        secrets: Secrets,
        grants: SecretGrants,
        guard: UrlGuard,
        redactor: Redactor,
        timeout: float = 10.0,
        now: Callable[[], float] | None = None,
    ) -> None:
        self._outbox = outbox
        self._secrets = secrets
        self._grants = grants
        self._guard = guard
        self._timeout = timeout
        self._now = now
        outbox.register(INTEGRATION, "request", HttpSender(http, self._build, redactor=redactor))

    def _secret(self, project: str, env: Mapping[str, list[str]], name: str) -> str:
        secret, key = env.get(name, [name, ""])
        self._grants.require(project, secret)  # again at send time: a grant may be withdrawn
        candidates = [f"{secret}.{key}", secret] if key else [secret]
        for candidate in candidates:
            if self._secrets.known(candidate):
                return self._secrets.get(candidate).get_secret_value()
        return self._secrets.get(candidates[0]).get_secret_value()

    async def _build(self, args: Mapping[str, Any]) -> HttpRequest:
        spec, event, env = args["request"], args["event"], args["env"]
        project = str(event.get("data", {}).get("project", ""))

        def lookup(name: str) -> str:
            return self._secret(project, env, name)

        url = render(spec["url"], event, env=lookup)
        pinned = await self._guard.check(url)
        headers = {k: render(v, event, env=lookup) for k, v in spec["headers"]}
        payload = render(spec["payload"], event, env=lookup) if spec["payload"] else ""
        if payload and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return HttpRequest(
            spec["method"],
            url,
            headers,
            content=payload.encode() or None,
            timeout=self._timeout,
            connect_to=pinned,
        )

    def _event(self, request: ActionRequest) -> dict[str, Any]:
        action = request.action
        return {
            "specversion": "1.0",
            "type": EVENT_TYPE,
            "id": f"{request.keptn_context}:{request.action_index}",
            "source": "selfheal/control",
            "time": iso_from_epoch(self._now()) if self._now else "",
            "shkeptncontext": request.keptn_context,
            "data": {
                "project": request.project,
                "stage": request.stage,
                "service": request.service,
                "labels": dict(request.labels),
                "problem": dict(request.problem),
                "action": {
                    "name": action.name,
                    "action": action.action,
                    "description": action.description,
                    "value": dict(action.value)
                    if isinstance(action.value, Mapping)
                    else action.value,
                },
            },
        }

    async def execute(self, request: ActionRequest) -> ActionResult:
        value = request.action.value
        resource = DEFAULT_RESOURCE
        subscription: str | None = None
        if isinstance(value, Mapping):
            resource = str(value.get("resource") or resource)
            subscription = str(value["subscription"]) if value.get("subscription") else None
        text = await request.resources.read(resource)
        if text is None:
            return ActionResult("errored", "fail", f"the project has no {resource}")
        try:
            config = load_webhook(text)
        except SpecError as exc:
            return ActionResult("errored", "fail", f"{resource}: {exc}")
        hooks = config.for_event(EVENT_TYPE, subscription)
        if not hooks:
            return ActionResult("errored", "fail", f"{resource} has no webhook for {EVENT_TYPE}")
        for _, secret in references(config):
            if not self._grants.allows(request.project, secret):
                return ActionResult(
                    "errored",
                    "fail",
                    f"{resource}: secret {secret!r} is not granted to project {request.project!r}",
                )
        event = self._event(request)
        problem = str(request.problem.get("PID") or request.problem.get("ProblemID") or "") or None
        sent: list[dict[str, Any]] = []
        index = 0
        for hook in hooks:
            env = {e.name: [e.secret, e.key] for e in hook.env_from}
            for req in hook.requests:
                args = {
                    "request": {
                        "url": req.url,
                        "method": req.method,
                        "headers": [[h.key, h.value] for h in req.headers],
                        "payload": req.payload,
                    },
                    "event": event,
                    "env": env,
                }
                if request.dry_run:
                    sent.append({"method": req.method, "url": req.url})
                    continue
                delivery = await self._outbox.deliver(
                    INTEGRATION,
                    "request",
                    args,
                    dedup_key=f"{INTEGRATION}:{request.keptn_context}:{request.action_index}:{index}",
                    problem=problem,
                    keptn_context=request.keptn_context,
                    event_type=EVENT_TYPE,
                )
                index += 1
                sent.append({"delivery": delivery.id, "status": delivery.http_status})
                if delivery.status != "succeeded":
                    return ActionResult(
                        "errored",
                        "fail",
                        f"webhook {delivery.target or req.method}: {delivery.error}",
                        {"requests": sent},
                    )
        verb = "would send" if request.dry_run else "sent"
        return ActionResult(
            message=f"{verb} {len(sent)} webhook request(s)", data={"requests": sent}
        )
