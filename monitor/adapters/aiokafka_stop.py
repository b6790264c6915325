"""aiokafka's consumer stop, made to finish when a fetch was waiting out its retry back-off.

``Fetcher.close`` (aiokafka 0.14) cancels its pending fetch tasks and awaits each of them. A fetch
that failed (the broker gone) sleeps its ``retry_backoff`` outside its own ``CancelledError``
handler, so awaiting it raises that cancellation out of ``AIOKafkaConsumer.stop()``
(aio-libs/aiokafka#647, #983): the client is not closed, and Faust's consumer thread dies with a
``CancelledError`` traceback before it tells the worker it stopped; the worker then waits for it
until the stop deadline forces an exit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

__all__ = ["finish_cancelled", "patch_fetcher_close"]

_PATCHED = "_monitor_cancelled_fetches_finished"


async def finish_cancelled(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` not done yet and wait for all of them, their cancellation not raised here
    (this coroutine's own cancellation still is)."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _cancelled_from_outside() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def patch_fetcher_close() -> None:
    """Make ``Fetcher.close`` finish its cancelled fetches instead of raising their cancellation.
    Idempotent; a stop that is itself cancelled is still cancelled."""
    from aiokafka.consumer.fetcher import Fetcher

    original: Callable[[Any], Coroutine[Any, Any, None]] = Fetcher.close
    if getattr(original, _PATCHED, False):
        return

    async def close(self: Any) -> None:
        try:
            await original(self)
        except asyncio.CancelledError:
            if _cancelled_from_outside():
                raise
            await finish_cancelled(self._pending_tasks)

    setattr(close, _PATCHED, True)
    Fetcher.close = close
