"""A remote Unleash-compatible server's admin API, for flipping flags outside this process.

Current Unleash: `POST {url}/api/admin/projects/{project}/features/{flag}/environments/{env}/on|off`
with `Authorization: <admin token>`. Legacy (what Keptn's unleash-service called):
`POST {url}/api/admin/features/{flag}/toggle/on|off` with HTTP Basic, any user, the token as
password. Success is 200, 201 or 202. Both go through the outbox, so every flip is recorded.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from selfheal.delivery import Delivery, Outbox
from selfheal.integrations.outbox import HttpSender
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.transport import HttpClient, HttpRequest

INTEGRATION = "unleash"


class UnleashAdmin:
    def __init__(
        self,
        url: str,
        token: SecretStr,
        *,
        outbox: Outbox,
        http: HttpClient,
        redactor: Redactor,
        legacy: bool = False,
    ) -> None:
        base = url.rstrip("/")
        self._base = base[: -len("/api")] if base.endswith("/api") else base
        self._token = token
        self._legacy = legacy
        self._outbox = outbox
        redactor.add(token.get_secret_value())
        outbox.register(INTEGRATION, "toggle", HttpSender(http, self._build, redactor=redactor))

    async def _build(self, args: Mapping[str, Any]) -> HttpRequest:
        flag = quote(args["flag"], safe="")
        state = "on" if args["enabled"] else "off"
        token = self._token.get_secret_value()
        if self._legacy:
            basic = base64.b64encode(f"selfheal:{token}".encode()).decode()
            url = f"{self._base}/api/admin/features/{flag}/toggle/{state}"
            return HttpRequest("POST", url, {"Authorization": f"Basic {basic}"})
        project = quote(args["project"], safe="")
        env = quote(args["environment"], safe="")
        url = (
            f"{self._base}/api/admin/projects/{project}/features/{flag}/environments/{env}/{state}"
        )
        return HttpRequest("POST", url, {"Authorization": token})

    async def switch(
        self,
        flag: str,
        environment: str,
        enabled: bool,
        *,
        project: str,
        dedup_key: str | None = None,
        problem: str | None = None,
        keptn_context: str | None = None,
    ) -> Delivery:
        args = {"flag": flag, "environment": environment, "enabled": enabled, "project": project}
        return await self._outbox.deliver(
            INTEGRATION,
            "toggle",
            args,
            dedup_key=dedup_key,
            problem=problem,
            keptn_context=keptn_context,
            event_type="sh.keptn.event.action.triggered",
        )
