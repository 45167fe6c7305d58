"""NATS JetStream as the platform's external bus (TINHSO_BUS_URL=nats://host:4222).

`NatsBus` implements kit.events.ExternalBus: the outbox dispatcher hands it every event, which it
publishes to the stream TINHSO on subject `tinhso.<topic>` with `Nats-Msg-Id` = event id, so JetStream
drops duplicates when the dispatcher retries. `FanoutConsumer` is the exchange's durable pull consumer
of `tinhso.exchange.pubsub.>`: it turns each notice into deliveries (idempotently) and acknowledges it
only after the database transaction committed, so a crash in between means a redelivery, never a loss.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from tinhso.kit.events import Event

log = logging.getLogger("tinhso.exchange.nats")
STREAM = "TINHSO"
SUBJECT_PREFIX = "tinhso."


class _Loop:
    """An asyncio loop in a daemon thread, for callers that are synchronous."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tinhso-nats", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=5)
        except Exception:  # noqa: BLE001 - stopping anyway
            log.warning("nats loop shutdown incomplete")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class NatsBus:
    """kit.events.ExternalBus on NATS JetStream."""

    def __init__(self, url: str, stream: str = STREAM, prefix: str = SUBJECT_PREFIX):
        self.url, self.stream, self.prefix = url, stream, prefix
        self._loop: _Loop | None = None
        self._nc: Any = None
        self._js: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        with self._lock:
            if self._js is None:
                self._loop = self._loop or _Loop()

                async def connect() -> Any:
                    nc = await nats.connect(self.url, connect_timeout=3, max_reconnect_attempts=-1)
                    js = nc.jetstream()
                    try:
                        await js.stream_info(self.stream)
                    except Exception:  # noqa: BLE001 - not found: create it
                        await js.add_stream(
                            StreamConfig(
                                name=self.stream, subjects=[f"{self.prefix}>"], duplicate_window=600.0
                            )
                        )
                    return nc, js

                self._nc, self._js = self._loop.run(connect())
            return self._js

    def publish(self, event: Event) -> None:
        js = self._connect()
        body = json.dumps(
            {
                "event_id": event.event_id,
                "topic": event.topic,
                "key": event.key,
                "payload": event.payload,
                "created_at": event.created_at.isoformat(),
            },
            ensure_ascii=False,
        ).encode()
        assert self._loop is not None
        self._loop.run(js.publish(self.prefix + event.topic, body, headers={"Nats-Msg-Id": event.event_id}))

    def consume(
        self,
        durable: str,
        subject: str,
        handle: Callable[[dict[str, Any]], None],
        stop: threading.Event,
        batch: int = 100,
        wait: float = 0.5,
    ) -> None:
        """Pull messages of `subject` with a durable consumer and call `handle` for each; ack after it returns."""
        js = self._connect()
        assert self._loop is not None

        async def subscribe() -> Any:
            return await js.pull_subscribe(
                self.prefix + subject,
                durable=durable,
                stream=self.stream,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=-1),
            )

        sub = self._loop.run(subscribe())
        while not stop.is_set():
            try:
                msgs = self._loop.run(self._fetch(sub, batch, wait), timeout=wait + 10)
            except Exception as exc:  # noqa: BLE001 - broker hiccup or a slow loop: try again
                log.warning("nats fetch failed: %s", type(exc).__name__)
                stop.wait(1.0)
                continue
            for msg in msgs:
                try:
                    handle(json.loads(msg.data))
                except Exception:  # noqa: BLE001 - leave it unacked: JetStream redelivers it
                    log.exception("nats handler failed")
                    self._loop.run(msg.nak(delay=1))
                    continue
                self._loop.run(msg.ack())

    @staticmethod
    async def _fetch(sub: Any, batch: int, wait: float) -> list[Any]:
        import nats.errors

        try:
            return await sub.fetch(batch, timeout=wait)
        except (nats.errors.TimeoutError, TimeoutError):  # nats-py may raise the bare asyncio one
            return []

    def close(self) -> None:
        with self._lock:
            if self._nc is not None and self._loop is not None:
                try:
                    self._loop.run(self._nc.close())
                except Exception:  # noqa: BLE001 - closing anyway
                    log.warning("nats close failed")
            if self._loop is not None:
                self._loop.stop()
            self._nc = self._js = self._loop = None
