"""HTTP senders for the shared outbox (`selfheal.delivery`): a request is built from a
delivery's secret-free args (secrets resolved now), sent, and judged: Retry-After honoured,
a 2xx vetoed where the API says so (Slack's `ok: false`), the answer handed on (Jira's issue
key). Attempts, backoff, leases, dead letters and per-endpoint queues are the outbox's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from selfheal.core import SelfhealError
from selfheal.delivery import Attempt
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.transport import HttpClient, HttpRequest, HttpResponse, TransportFailure


def retry_after(response: HttpResponse) -> float | None:
    value = response.header("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


Builder = Callable[[Mapping[str, Any]], Awaitable[HttpRequest]]
Checker = Callable[[HttpResponse], str | None]
Accepter = Callable[[Mapping[str, Any], HttpResponse], Awaitable[None]]
Settled = Callable[[Mapping[str, Any]], Awaitable[bool]]


class HttpSender:
    """A sender that builds an `HttpRequest` from args (secrets resolved now) and sends it.

    `check` may veto a 2xx answer (Slack answers 200 with `ok: false`); `accept` sees the
    successful response (Jira's new issue key, Slack's thread ts).
    """

    def __init__(
        self,
        http: HttpClient,
        build: Builder,
        *,
        redactor: Redactor,
        check: Checker | None = None,
        accept: Accepter | None = None,
        settled: Settled | None = None,
    ) -> None:
        self._http = http
        self._build = build
        self._redactor = redactor
        self._check = check
        self._accept = accept
        self._settled = settled

    async def settled(self, args: Mapping[str, Any]) -> bool:
        return await self._settled(args) if self._settled is not None else False

    async def attempt(self, args: Mapping[str, Any]) -> Attempt:
        try:
            request = await self._build(args)
        except SelfhealError as exc:  # a missing secret, a blocked URL, no ticket yet
            return Attempt(False, error=self._redactor.text(str(exc)), retry=False)
        target = f"{request.method} {self._redactor.url(request.url)}"
        try:
            response = await self._http.send(request)
        except TransportFailure as exc:
            return Attempt(False, target, error=self._redactor.text(str(exc)))
        status = response.status
        if 200 <= status < 300:
            problem = self._check(response) if self._check else None
            if problem is not None:
                transient = problem in ("ratelimited", "rate_limited", "service_unavailable")
                return Attempt(False, target, status, self._redactor.text(problem), retry=transient)
            if self._accept is not None:
                await self._accept(args, response)
            return Attempt(True, target, status, response=response)
        error = f"HTTP {status}: {self._redactor.text(response.text[:300])}".strip()
        transient = status in (408, 425, 429) or status >= 500
        return Attempt(
            False,
            target,
            status,
            error,
            retry=transient,
            retry_after=retry_after(response),
            response=response,
        )
