"""One member of a JetStream pull consumer: keeps pull requests topped up, runs the handler.

Why not nats-py's `PullSubscription.fetch`: a batch fetch waits for the whole batch (or the
timeout) before returning, which trades latency for throughput. Here pull requests stay
outstanding on the server (`prefetch` messages of credit, refilled at half), so a message
reaches the handler as soon as it is stored, and a busy stream still moves in batches.
Messages arrive on one inbox subscription whose callback runs the handler; nats-py runs a
subscription's callbacks one at a time, so a member handles one event at a time, in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from selfheal.bus.protocol import Handler
from selfheal.bus.subjects import matches
from selfheal.core import CloudEvent, InvalidEvent

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as NatsSubscription

log = logging.getLogger(__name__)

_STATUS = "Status"
_PENDING = "Nats-Pending-Messages"


class PullMember:
    """Pulls from `consumer` on `stream`; `pattern` (prefix removed) filters on the client
    when the server-side filter could not express it."""

    def __init__(
        self,
        nc: Client,
        *,
        stream: str,
        consumer: str,
        handler: Handler,
        client_filter: str | None,
        prefix_len: int,
        prefetch: int,
        ack_wait: float,
        max_deliver: int,
        redelivery_delay: float,
        api_prefix: str = "$JS.API",
    ) -> None:
        self._nc = nc
        self.stream = stream
        self.consumer = consumer
        self._handler = handler
        self._client_filter = client_filter
        self._prefix_len = prefix_len
        self._prefetch = max(1, prefetch)
        self._ack_wait = ack_wait
        self._max_deliver = max_deliver
        self._redelivery_delay = redelivery_delay
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        # a pull request lives long enough to amortise, short enough that lost ones heal fast
        self._expires = min(30.0, max(1.0, ack_wait / 2))
        self._inbox = ""
        self._sub: NatsSubscription | None = None
        self._outstanding = 0
        self._last_pull = 0.0
        self._stopping = False
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            self._inbox, cb=self._on_message, pending_msgs_limit=max(1024, self._prefetch * 4)
        )
        await self._pull()
        self._refresher = asyncio.create_task(self._refresh(), name=f"bus-pull:{self.consumer}")

    async def repull(self) -> None:
        """After a reconnect the server may have forgotten our pull requests: ask again."""
        self._outstanding = 0
        await self._pull()

    async def _pull(self) -> None:
        want = self._prefetch - self._outstanding
        if self._stopping or want <= 0 or not self._nc.is_connected:
            return
        request = {"batch": want, "expires": int(self._expires * 1e9)}
        self._outstanding += want
        self._last_pull = time.monotonic()
        await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._inbox)

    async def _refresh(self) -> None:
        """Re-issue pull requests that expired unseen (lost in a reconnect, say)."""
        while not self._stopping:
            await asyncio.sleep(self._expires / 2)
            if time.monotonic() - self._last_pull > self._expires * 1.5:
                self._outstanding = 0
            try:
                await self._pull()
            except Exception as exc:  # a NATS error while disconnected: the next round retries
                log.debug("pull refresh for %s failed: %s", self.consumer, exc)

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get(_STATUS) if headers else None
        if status:
            self._on_status(status, headers or {})
        else:
            self._outstanding = max(0, self._outstanding - 1)
            await self._deliver(msg)
        if self._outstanding <= self._prefetch // 2:
            await self._pull()

    def _on_status(self, status: str, headers: dict[str, str]) -> None:
        if status == "100":  # idle heartbeat
            return
        pending = headers.get(_PENDING)
        if pending is not None and pending.isdigit():
            self._outstanding = max(0, self._outstanding - int(pending))
        else:
            self._outstanding = 0
        if status not in ("404", "408"):
            log.warning(
                "pull consumer %s: %s %s", self.consumer, status, headers.get("Description", "")
            )

    async def _deliver(self, msg: Msg) -> None:
        subject = msg.subject[self._prefix_len :]
        if self._client_filter is not None and not matches(self._client_filter, subject):
            await msg.ack()
            return
        try:
            event = CloudEvent.from_json(msg.data)
        except InvalidEvent as exc:
            log.error("dropping a message on %s that is not a CloudEvent: %s", msg.subject, exc)
            await msg.term()
            return
        keepalive = _KeepAlive(msg, self._ack_wait / 2)
        try:
            await self._handler(event)
        except Exception:
            keepalive.cancel()
            await self._failed(msg, event)
            return
        keepalive.cancel()
        await msg.ack()

    async def _failed(self, msg: Msg, event: CloudEvent) -> None:
        attempt = _delivered(msg)
        if attempt >= self._max_deliver:
            log.error(
                "event %s (%s) dropped after %d failed deliveries",
                event.id,
                event.type,
                attempt,
                exc_info=True,
            )
            await msg.term()
            return
        log.warning(
            "handler failed for event %s (%s), attempt %d; redelivering",
            event.id,
            event.type,
            attempt,
            exc_info=True,
        )
        await msg.nak(delay=self._redelivery_delay * attempt)

    async def stop(self, timeout: float) -> None:
        """Stop pulling, finish the messages already delivered to us, then unsubscribe."""
        self._stopping = True
        if self._refresher is not None:
            self._refresher.cancel()
            try:
                await self._refresher
            except asyncio.CancelledError:
                pass
        sub, self._sub = self._sub, None
        if sub is None or self._nc.is_closed:
            return
        try:
            await asyncio.wait_for(sub.drain(), timeout)  # type: ignore[no-untyped-call]
        except TimeoutError:
            log.warning("consumer %s: handlers still busy after %.1fs", self.consumer, timeout)
            await sub.unsubscribe()


def _delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # not a JetStream reply subject: count it as a first delivery
        return 1


class _KeepAlive:
    """While a slow handler still works on an event, tell the server not to redeliver it."""

    def __init__(self, msg: Msg, interval: float) -> None:
        self._msg = msg
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._handle = self._loop.call_later(interval, self._fire)

    def _fire(self) -> None:
        self._task = self._loop.create_task(self._msg.in_progress())
        self._task.add_done_callback(_ignore_result)
        self._handle = self._loop.call_later(self._interval, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("in-progress ack failed: %s", task.exception())
