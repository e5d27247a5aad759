"""The NATS JetStream bus: the scale-out adapter of the same delivery contract.

Subjects are `subject_prefix + event type`; one stream (`stream`) holds `sh.keptn.>`,
`sh.selfheal.>` and `selfheal.>` under the prefix (an existing stream gains a new root when
it is updated at connect). Publishing waits for the stream's ack and sets `Nats-Msg-Id`
to the event's source and id, so a retried publish is dropped by JetStream's duplicate
window. A `group` is a durable pull consumer shared by its members; no group is an
ephemeral consumer that sees only new events. A handler that raises is nak'ed with a
growing delay until `max_deliver`, then the event is terminated and logged.

The server deletes an ephemeral consumer `inactive_threshold` seconds after its last client
went away, e.g. during an outage longer than that. After every reconnect (and whenever a
pull says the consumer is gone) each subscription checks its consumer and re-creates a
missing one under a new name, starting after the last stream sequence it received, so
nothing still in the stream is missed; a durable consumer is re-created with its own name.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from selfheal.bus.consumers import PullMember
from selfheal.bus.protocol import BusError, Handler
from selfheal.bus.subjects import validate_pattern
from selfheal.core import APPLIED_HEADER, CloudEvent, new_id

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.api import ConsumerConfig

log = logging.getLogger(__name__)

ROOTS = ("sh.keptn.", "sh.selfheal.", "selfheal.")
"""Keptn's events, selfheal's own Keptn-style events (mitigated, the restore's course,
escalations, synced comments) and its internal ones (flags)."""
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_STREAM_EXISTS = 10058


class JetStreamSubscription:
    def __init__(
        self, bus: JetStreamBus, member: PullMember, config: ConsumerConfig, *, ephemeral: bool
    ) -> None:
        self._bus = bus
        self._member = member
        self._config = config
        self._ephemeral = ephemeral
        self._recovering: asyncio.Task[None] | None = None
        self.recreated = 0
        """How often the consumer had to be re-created (a test and an operator look here)."""

    @property
    def consumer(self) -> str:
        return self._member.consumer

    def lost(self) -> None:
        """The member learnt that its consumer is gone: re-create it (once at a time)."""
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(
                self.recover(), name=f"bus-recover:{self._member.consumer}"
            )

    async def recover(self) -> None:
        """Make sure the consumer exists (re-create it if the server dropped it), then pull."""
        from nats.js.api import DeliverPolicy
        from nats.js.errors import NotFoundError

        js = self._bus._js
        try:
            await js.consumer_info(self._member.stream, self._member.consumer)
        except NotFoundError:
            config = self._config
            if self._ephemeral:
                name = _NAME_UNSAFE.sub("_", f"{self._bus.consumer_prefix}-eph-{new_id()[:12]}")
                config = replace(config, name=name)
                if self._member.last_sequence:
                    config = replace(
                        config,
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                        opt_start_seq=self._member.last_sequence + 1,
                    )
            await js.add_consumer(self._member.stream, config)
            log.warning(
                "consumer %s was deleted by the server (outage longer than its "
                "inactive_threshold?); re-created as %s from stream sequence %s",
                self._member.consumer,
                config.name,
                config.opt_start_seq or "new",
            )
            self._member.retarget(str(config.name))
            self.recreated += 1
        await self._member.repull()

    async def unsubscribe(self) -> None:
        if self not in self._bus._subscriptions:
            return
        self._bus._subscriptions.discard(self)
        if self._recovering is not None:
            self._recovering.cancel()
        await self._member.stop(self._bus.drain_timeout)
        if self._ephemeral and self._bus._nc.is_connected:
            try:
                await self._bus._js.delete_consumer(self._member.stream, self._member.consumer)
            except Exception as exc:  # it expires on its own (inactive_threshold)
                log.debug("deleting consumer %s failed: %s", self._member.consumer, exc)


class JetStreamBus:
    """Build it with `await JetStreamBus.connect(url)`; see the module docstring."""

    def __init__(
        self,
        nc: Client,
        *,
        stream: str,
        subject_prefix: str,
        consumer_prefix: str,
        ack_wait: float,
        max_deliver: int,
        redelivery_delay: float,
        prefetch: int,
        publish_timeout: float,
        drain_timeout: float,
        inactive_threshold: float = 30.0,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream(timeout=publish_timeout)
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.consumer_prefix = consumer_prefix
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.redelivery_delay = redelivery_delay
        self.prefetch = prefetch
        self.publish_timeout = publish_timeout
        self.drain_timeout = drain_timeout
        self.inactive_threshold = inactive_threshold
        self._subscriptions: set[JetStreamSubscription] = set()
        self._closed = False
        self.disconnected_at: float | None = None
        """Monotonic time the connection was lost (None while connected)."""

    def disconnected_for(self) -> float:
        """Seconds since the connection to NATS was lost; 0 while connected."""
        if self.disconnected_at is None or self._nc.is_connected:
            return 0.0
        return max(0.0, time.monotonic() - self.disconnected_at)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        consumer_prefix: str = "selfheal",
        stream: str = "SELFHEAL",
        subject_prefix: str = "",
        ack_wait: float = 5.0,
        max_deliver: int = 5,
        redelivery_delay: float = 0.5,
        prefetch: int = 32,
        inactive_threshold: float = 30.0,
        max_age: float = 7 * 24 * 3600.0,
        publish_timeout: float = 5.0,
        drain_timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> JetStreamBus:
        """Connect (reconnecting forever afterwards) and create or update the stream."""
        from nats.aio.client import Client
        from nats.errors import Error as NatsError

        bus: JetStreamBus | None = None

        async def reconnected() -> None:
            log.info("NATS reconnected to %s", nc.connected_url.netloc if nc.connected_url else "?")
            if bus is not None:
                bus.disconnected_at = None
                await bus._recover()

        async def disconnected() -> None:
            if bus is not None and bus.disconnected_at is None:
                bus.disconnected_at = time.monotonic()
            if bus is None or not bus._closed:
                log.warning("NATS disconnected; reconnecting")

        async def errored(exc: Exception) -> None:
            log.warning("NATS error: %s", exc)

        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    url,
                    connect_timeout=max(1, round(connect_timeout)),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,  # type: ignore[arg-type]  # nats-py sleeps on floats fine
                    ping_interval=10,
                    max_outstanding_pings=3,
                    reconnected_cb=reconnected,
                    disconnected_cb=disconnected,
                    error_cb=errored,
                    name=f"{consumer_prefix}-{new_id()[:8]}",
                ),
                connect_timeout,
            )
        except (NatsError, OSError, TimeoutError) as exc:
            await nc.close()
            raise BusError(f"cannot connect to NATS at {_redact(url)}: {exc}") from exc
        bus = cls(
            nc,
            stream=stream,
            subject_prefix=subject_prefix,
            consumer_prefix=consumer_prefix,
            ack_wait=ack_wait,
            max_deliver=max_deliver,
            redelivery_delay=redelivery_delay,
            prefetch=prefetch,
            publish_timeout=publish_timeout,
            drain_timeout=drain_timeout,
            inactive_threshold=inactive_threshold,
        )
        try:
            await bus._ensure_stream(max_age)
        except BaseException:
            await nc.close()
            raise
        return bus

    @property
    def connection(self) -> Client:
        """The nats-py client (for health checks and operations; not for publishing)."""
        return self._nc

    def subjects(self) -> list[str]:
        return [f"{self.subject_prefix}{root}>" for root in ROOTS]

    async def _ensure_stream(self, max_age: float) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import APIError

        config = StreamConfig(
            name=self.stream,
            subjects=self.subjects(),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=max_age,
            duplicate_window=120.0,
        )
        try:
            await self._js.add_stream(config)
        except APIError as exc:
            if exc.err_code != _STREAM_EXISTS:
                raise BusError(f"cannot create stream {self.stream}: {exc}") from exc
            try:
                await self._js.update_stream(config)
            except APIError as again:
                raise BusError(f"cannot update stream {self.stream}: {again}") from again
        except Exception as exc:
            raise BusError(f"cannot create stream {self.stream}: {exc}") from exc

    def _subject(self, event: CloudEvent) -> str:
        if not event.type.startswith(ROOTS):
            raise BusError(
                f"event type {event.type!r} is outside the bus's subjects "
                f"({', '.join(r + '>' for r in ROOTS)})"
            )
        return self.subject_prefix + event.type

    async def publish(self, event: CloudEvent) -> None:
        """Store the event in the stream; returns once JetStream acknowledged it."""
        await self.publish_many([event])

    async def publish_many(self, events: Iterable[CloudEvent]) -> None:
        """Pipelined: send every event, then wait for all the acks (retrying unacked ones;
        the message id makes a retry that did land a no-op)."""
        from nats.errors import Error as NatsError
        from nats.js.errors import APIError

        if self._closed:
            raise BusError("bus is closed")
        batch = [(self._subject(e), e.to_json(), _headers(e)) for e in events]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.publish_timeout * 3
        last: BaseException | None = None
        while batch and loop.time() < deadline:
            futures: list[asyncio.Future[Any]] = []
            try:
                # no wait_stall: with a timeout nats-py wraps each send in a task, which yields
                # to the flusher and costs one socket write per event (5x slower); unacked
                # futures are cancelled by _settle, which frees their slots
                for subject, body, headers in batch:
                    futures.append(await self._js.publish_async(subject, body, headers=headers))
            except (NatsError, OSError) as exc:
                last = exc
            done = await _settle(futures, self.publish_timeout)
            failed = []
            for item, result in zip(batch, done, strict=False):
                if isinstance(result, APIError):
                    raise BusError(f"JetStream refused {item[0]}: {result}") from result
                if isinstance(result, BaseException):
                    last = result
                    failed.append(item)
            batch = failed + batch[len(done) :]
            if batch:
                await asyncio.sleep(0.2)
        if batch:
            raise BusError(f"publish not acknowledged by JetStream: {last!r}")

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> JetStreamSubscription:
        from nats.errors import Error as NatsError
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        if self._closed:
            raise BusError("bus is closed")
        validate_pattern(pattern)
        server_filter = self._server_filter(pattern)
        if group is not None:
            digest = hashlib.sha1(pattern.encode()).hexdigest()[:10]
            name = _NAME_UNSAFE.sub("_", f"{self.consumer_prefix}-{group}-{digest}")
        else:
            name = _NAME_UNSAFE.sub("_", f"{self.consumer_prefix}-eph-{new_id()[:12]}")
        config = ConsumerConfig(
            name=name,
            durable_name=name if group is not None else None,
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subject=server_filter,
            max_ack_pending=max(1000, self.prefetch * 16),
            inactive_threshold=None if group is not None else max(1.0, self.inactive_threshold),
        )
        try:
            await self._js.add_consumer(self.stream, config)
        except NatsError as exc:
            if group is None or not await self._consumer_exists(name):
                raise BusError(f"cannot create consumer {name}: {exc}") from exc
            log.warning("consumer %s exists with another configuration; using it: %s", name, exc)
        sub: JetStreamSubscription | None = None

        def lost() -> None:
            if sub is not None:
                sub.lost()

        member = PullMember(
            self._nc,
            stream=self.stream,
            consumer=name,
            handler=handler,
            client_filter=None if server_filter else pattern,
            prefix_len=len(self.subject_prefix),
            prefetch=self.prefetch,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            redelivery_delay=self.redelivery_delay,
            on_lost=lost,
        )
        sub = JetStreamSubscription(self, member, config, ephemeral=group is None)
        await member.start()
        self._subscriptions.add(sub)
        return sub

    def _server_filter(self, pattern: str) -> str | None:
        """The consumer's filter subject, or None when the pattern is wider than one of the
        stream's subjects (`>`, `*.keptn.>`): then the consumer takes the whole stream and
        the member filters on the client."""
        for root in ROOTS:
            if pattern.startswith(root) and len(pattern) > len(root):
                return self.subject_prefix + pattern
        return None

    async def _consumer_exists(self, name: str) -> bool:
        try:
            await self._js.consumer_info(self.stream, name)
            return True
        except Exception:
            return False

    async def _recover(self) -> None:
        """After a reconnect: every consumer exists again (re-created if needed) and pulls."""
        for sub in list(self._subscriptions):
            try:
                await sub.recover()
            except Exception as exc:  # NATS went away again: the next reconnect retries
                log.warning("recovering consumer %s after reconnect failed: %s", sub.consumer, exc)

    async def ping(self) -> bool:
        if self._closed or not self._nc.is_connected:
            return False
        try:
            await self._nc.flush(timeout=2)
            return True
        except Exception:
            return False

    async def close(self) -> None:
        """Finish the handlers in flight (and events already pulled), then disconnect."""
        if self._closed:
            return
        self._closed = True
        for sub in list(self._subscriptions):
            await sub.unsubscribe()
        try:
            await asyncio.wait_for(self._nc.drain(), self.drain_timeout)
        except Exception as exc:
            log.debug("NATS drain: %s", exc)
        if not self._nc.is_closed:
            try:
                await self._nc.close()
            except OSError as exc:  # NATS is down while we stop: nothing left to flush to
                log.debug("NATS close: %s", exc)


def _msg_id(event: CloudEvent) -> str:
    return f"{event.source}#{event.id}"


def _headers(event: CloudEvent) -> dict[str, str]:
    headers = {"Nats-Msg-Id": _msg_id(event)}
    if event.applied:
        headers[APPLIED_HEADER] = "1"
    return headers


async def _settle(futures: list[asyncio.Future[Any]], timeout: float) -> list[object]:
    """Results (or exceptions) of publish acks, in order; unfinished ones time out."""
    if not futures:
        return []
    await asyncio.wait(futures, timeout=timeout)
    out: list[object] = []
    for fut in futures:
        if not fut.done():
            fut.cancel()
            out.append(TimeoutError("no ack from JetStream"))
        elif fut.cancelled():
            out.append(TimeoutError("publish cancelled"))
        else:
            out.append(fut.exception() or fut.result())
    return out


def _redact(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)
