"""One member of a JetStream pull consumer: keeps pull requests topped up, runs the handler.

Why not nats-py's `PullSubscription.fetch`: a batch fetch waits for the whole batch (or the
timeout) before returning, which trades latency for throughput. Here pull requests stay
outstanding on the server (`prefetch` messages of credit, refilled at half), so a message
reaches the handler as soon as it is stored, and a busy stream still moves in batches.
Messages arrive on one inbox subscription whose callback only queues them; one worker task
runs the handler, so a member handles one event at a time, in order.

Every event a member holds (the one in hand and the ones prefetched behind it) gets an
in-progress ack every `ack_wait / 3` seconds, so `ack_wait` can be short: when a member
dies, what it held is redelivered to another member after `ack_wait` seconds (5 by default),
not after a long timeout sized for the slowest handler.

A status 409 "consumer deleted" or 503 "no responders" on a pull means the server no
longer has the consumer (an ephemeral one is deleted after `inactive_threshold` without a
client, e.g. a long outage): the member tells its owner (`on_lost`), which re-creates it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from selfheal.bus.protocol import Handler
from selfheal.bus.subjects import matches
from selfheal.core import APPLIED_HEADER, CloudEvent, InvalidEvent

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
        on_lost: Callable[[], None] | None = None,
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
        self._worker: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._held: deque[Msg] = deque()
        self._in_hand: Msg | None = None
        self._arrived = asyncio.Event()
        self._on_lost = on_lost
        self.last_sequence = 0
        """Stream sequence of the newest event received (a re-created consumer resumes after it)."""

    @property
    def held(self) -> int:
        """Events received and not yet acknowledged (queued and in hand)."""
        return len(self._held) + (1 if self._in_hand is not None else 0)

    def retarget(self, consumer: str) -> None:
        """Pull from another consumer (the re-created one) from now on."""
        self._next_subject = self._next_subject[: -len(self.consumer)] + consumer
        self.consumer = consumer

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            self._inbox, cb=self._on_message, pending_msgs_limit=max(1024, self._prefetch * 4)
        )
        self._worker = asyncio.create_task(self._work(), name=f"bus-work:{self.consumer}")
        self._keeper = asyncio.create_task(self._keep_alive(), name=f"bus-keep:{self.consumer}")
        await self._pull()
        self._refresher = asyncio.create_task(self._refresh(), name=f"bus-pull:{self.consumer}")

    async def repull(self) -> None:
        """After a reconnect the server may have forgotten our pull requests: ask again."""
        self._outstanding = 0
        await self._pull()

    async def _pull(self) -> None:
        # credit on the server plus events held here never exceed `prefetch`
        want = self._prefetch - self._outstanding - self.held
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
            self._held.append(msg)
            self._arrived.set()
        if self._outstanding <= self._prefetch // 2:
            await self._pull()

    async def _work(self) -> None:
        while True:
            if not self._held:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            msg = self._held.popleft()
            self._in_hand = msg
            try:
                await self._deliver(msg)
            except Exception as exc:  # a NATS error acking: the server redelivers it
                log.warning("consumer %s: acknowledging failed: %s", self.consumer, exc)
            finally:
                self._in_hand = None
            if self._outstanding <= self._prefetch // 2 and not self._stopping:
                try:
                    await self._pull()
                except Exception as exc:
                    log.debug("pull for %s failed: %s", self.consumer, exc)

    async def _keep_alive(self) -> None:
        """In-progress acks for every held event, so only a dead member's events time out."""
        interval = max(0.2, self._ack_wait / 3)
        while True:
            await asyncio.sleep(interval)
            held = ([self._in_hand] if self._in_hand is not None else []) + list(self._held)
            if not held or not self._nc.is_connected:
                continue
            for msg in held:
                try:
                    await msg.in_progress()
                except Exception as exc:
                    log.debug("in-progress ack failed: %s", exc)
                    break

    def _on_status(self, status: str, headers: dict[str, str]) -> None:
        if status == "100":  # idle heartbeat
            return
        pending = headers.get(_PENDING)
        if pending is not None and pending.isdigit():
            self._outstanding = max(0, self._outstanding - int(pending))
        else:
            self._outstanding = 0
        description = headers.get("Description", "")
        if status == "503" or (status == "409" and "deleted" in description.lower()):
            log.warning(
                "pull consumer %s is gone (%s %s); re-creating it",
                self.consumer,
                status,
                description or "no responders",
            )
            if self._on_lost is not None and not self._stopping:
                self._on_lost()
            return
        if status not in ("404", "408"):
            log.warning("pull consumer %s: %s %s", self.consumer, status, description)

    async def _deliver(self, msg: Msg) -> None:
        subject = msg.subject[self._prefix_len :]
        if self._client_filter is not None and not matches(self._client_filter, subject):
            await msg.ack()
            return
        self.last_sequence = max(self.last_sequence, _sequence(msg))
        try:
            event = CloudEvent.from_json(msg.data)
        except InvalidEvent as exc:
            log.error("dropping a message on %s that is not a CloudEvent: %s", msg.subject, exc)
            await msg.term()
            return
        if msg.headers and msg.headers.get(APPLIED_HEADER):
            event = replace(event, applied=True)
        try:
            await self._handler(event)
        except Exception:
            await self._failed(msg, event)
            return
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
        """Stop pulling, finish the events already received (up to `timeout`), hand back
        the rest (nak: redelivered at once to another member), then unsubscribe."""
        self._stopping = True
        for task in (self._refresher, self._keeper):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        sub, self._sub = self._sub, None
        if sub is not None and not self._nc.is_closed:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("unsubscribing %s: %s", self.consumer, exc)
        worker, self._worker = self._worker, None
        if worker is None:
            return
        deadline = time.monotonic() + timeout
        while self.held and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.held:
            log.warning("consumer %s: handlers still busy after %.1fs", self.consumer, timeout)
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
        left, self._held = list(self._held), deque()
        for msg in left:
            if self._nc.is_closed or not self._nc.is_connected:
                break
            try:
                await msg.nak()
            except Exception as exc:
                log.debug("nak on stop failed: %s", exc)
                break


def _delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # not a JetStream reply subject: count it as a first delivery
        return 1


def _sequence(msg: Msg) -> int:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # not a JetStream reply subject
        return 0
