"""The retrying delivery queue: one FIFO and background task per sink, exponential backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from monitor.alerts.state import Alert
from monitor.redact import mask_text

if TYPE_CHECKING:
    from monitor.adapters.alert_sinks import AlertSink

__all__ = [
    "DeliveredCallback",
    "DeliveryQueue",
    "FailureCallback",
    "GiveUpCallback",
    "SizeCallback",
]

log = logging.getLogger("monitor.adapters.alert_sinks")  # the logger these records always had

FailureCallback = Callable[[str, Alert, BaseException], None]
GiveUpCallback = Callable[[str, Alert, BaseException], Awaitable[None] | None]
SizeCallback = Callable[[str, int], None]
DeliveredCallback = Callable[[str, Alert], Awaitable[None] | None]


async def _settle(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Run a delivery or give-up callback (sync or async); its failure never stops the sink's queue."""
    try:
        result = callback(*args)
        if result is not None:
            await result
    except Exception:  # a boundary: the next alert of this sink must still go out
        log.exception("alert delivery callback %s failed", getattr(callback, "__name__", callback))


class DeliveryQueue:
    """Delivers every enqueued alert to every sink, in order per sink, retrying with backoff.

    ``max_attempts=None`` retries forever: nothing is lost while the process runs. Callbacks
    (e.g. Prometheus counters) see each failed attempt, queue sizes, deliveries and give-ups; the
    delivery and give-up callbacks may be coroutines (an outbox acknowledgement), awaited before
    the sink's next alert.
    """

    def __init__(
        self,
        sinks: Iterable[AlertSink],
        max_attempts: int | None = None,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        *,
        on_failure: FailureCallback | None = None,
        on_queue_size: SizeCallback | None = None,
        on_delivered: DeliveredCallback | None = None,
        on_give_up: GiveUpCallback | None = None,
    ) -> None:
        self.sinks = tuple(sinks)
        names = [s.name for s in self.sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sinks: names {names} are not unique; pass name= to tell them apart")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts: {max_attempts} is not >= 1 (or None for forever)")
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError(
                f"delays: need 0 <= base_delay ({base_delay}) <= max_delay ({max_delay})"
            )
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._on_failure = on_failure
        self._on_queue_size = on_queue_size
        self._on_delivered = on_delivered
        self._on_give_up = on_give_up
        self._queues: dict[str, asyncio.Queue[Alert]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[str, int] = {s.name: 0 for s in self.sinks}
        self.failures: dict[str, int] = {s.name: 0 for s in self.sinks}
        self.delivered: dict[str, int] = {s.name: 0 for s in self.sinks}

    def _start(self) -> None:
        if self._tasks:
            return
        for sink in self.sinks:
            queue: asyncio.Queue[Alert] = asyncio.Queue()
            self._queues[sink.name] = queue
            self._tasks.append(
                asyncio.create_task(self._deliver(sink, queue), name=f"alert-sink-{sink.name}")
            )

    def enqueue(self, alert: Alert, sinks: Iterable[str] | None = None) -> None:
        """Queue ``alert`` for every sink (or the named ``sinks``); call from the event loop. Never blocks."""
        self._start()
        names = set(self._queues) if sinks is None else set(sinks)
        for name, queue in self._queues.items():
            if name not in names:
                continue
            queue.put_nowait(alert)
            self._pending[name] += 1
            self._report_size(name)

    def pending(self) -> dict[str, int]:
        """Alerts not yet delivered, per sink (including one in flight)."""
        return dict(self._pending)

    def _report_size(self, name: str) -> None:
        if self._on_queue_size:
            self._on_queue_size(name, self._pending[name])

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): doubling, capped at ``max_delay``."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))

    async def _deliver(self, sink: AlertSink, queue: asyncio.Queue[Alert]) -> None:
        while True:
            alert = await queue.get()
            try:
                await self._deliver_one(sink, alert)
            finally:
                self._pending[sink.name] -= 1
                self._report_size(sink.name)
                queue.task_done()

    async def _deliver_one(self, sink: AlertSink, alert: Alert) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await sink.send(alert)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any sink failure is retried and counted
                self.failures[sink.name] += 1
                if self._on_failure:
                    self._on_failure(sink.name, alert, exc)
                if self.max_attempts is not None and attempt >= self.max_attempts:
                    log.error(
                        "alert %s to %s given up after %d attempts: %s",
                        alert.fingerprint,
                        sink.name,
                        attempt,
                        mask_text(str(exc)),
                    )
                    if self._on_give_up:
                        await _settle(self._on_give_up, sink.name, alert, exc)
                    return
                log.warning(
                    "alert %s to %s failed (attempt %d): %s",
                    alert.fingerprint,
                    sink.name,
                    attempt,
                    mask_text(str(exc)),
                )
                await asyncio.sleep(self.delay(attempt))
                continue
            self.delivered[sink.name] += 1
            if self._on_delivered:
                await _settle(self._on_delivered, sink.name, alert)
            return

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued alert is delivered or given up; ``False`` on timeout."""
        waits = [q.join() for q in self._queues.values()]
        if not waits:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float | None = 5.0) -> bool:
        """Flush for up to ``timeout``, stop the tasks and close sinks that hold sessions."""
        flushed = await self.flush(timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                await close()
        return flushed
