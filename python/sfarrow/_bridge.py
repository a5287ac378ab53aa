"""Feeding a destination's synchronous ``deliver`` from an async iterator: the event loop pulls
the batches (from the network, natively async) and hands them through a small queue to the
worker thread that encodes and writes the files. Either side's failure stops the other."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()


class _Stop:
    """Handed to the worker in place of a batch: the producer failed or was cancelled."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def deliver_on_thread(deliver: Callable[[Any, Iterator[Any], Any], T], schema: Any, batches: AsyncIterator[Any], run: Any) -> T:
    handoff: queue.Queue[Any] = queue.Queue(maxsize=2)

    def items() -> Iterator[Any]:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Stop):
                raise item.error
            yield item

    worker = asyncio.ensure_future(asyncio.to_thread(deliver, schema, items(), run))

    async def put(item: Any) -> None:
        while True:
            try:
                await asyncio.to_thread(handoff.put, item, True, 0.1)
                return
            except queue.Full:
                if worker.done():
                    # The worker stopped (it failed): its error is the one to raise.
                    await worker
                    raise RuntimeError("the destination stopped taking batches") from None

    try:
        async for batch in batches:
            await put(batch)
        await put(_DONE)
    except BaseException as e:
        # The worker cleans up (staging files are removed) when it sees the failure.
        if not worker.done():
            while True:
                try:
                    handoff.put_nowait(_Stop(e))
                    break
                except queue.Full:
                    try:
                        handoff.get_nowait()
                    except queue.Empty:
                        pass
        try:
            await worker
        except BaseException:
            pass
        raise
    return await worker
