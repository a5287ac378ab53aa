"""``Flow.serve``: a flow run by its trigger until it is stopped.

The first SIGINT or SIGTERM asks the flow to stop once its current run (or micro-batch of
change events) has committed; a second one aborts that run, whose transaction then rolls back,
so the table and its state stay as the last commit left them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional

from sfarrow.exceptions import ConfigurationError
from sfarrow.sync.stream import END, Subscription
from sfarrow.sync.triggers import Clock, OnDemand, OnEvents, Schedule, Scheduler

if TYPE_CHECKING:
    from sfarrow.flow import Flow

log = logging.getLogger("sfarrow.sync")


@contextlib.contextmanager
def stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` the first time and abort (``KeyboardInterrupt``) the
    second; outside the main thread signals are left alone (only the main thread gets them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    received = [0]  # counted here: the event is set by another thread, maybe not yet

    def handler(signum: int, frame: Any) -> None:
        received[0] += 1
        if received[0] > 1:
            raise KeyboardInterrupt(f"stopped by a second {signal.Signals(signum).name}: the run in progress was abandoned")
        log.warning("sfarrow: %s received; stopping once the current run commits (send it again to abort the run)", signal.Signals(signum).name)
        # From another thread: the signal may have arrived while this thread holds the event's lock.
        threading.Thread(target=stop.set, daemon=True).start()

    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def serve(flow: Flow, clock: Optional[Clock] = None, stop: Optional[threading.Event] = None, signals: bool = True) -> int:
    """Runs ``flow`` by its trigger until ``stop`` is set (or a signal, see the module); returns
    the runs made (micro-batches applied, for change events)."""
    stop = stop or threading.Event()
    guard = stopped_by_signals(stop) if signals else contextlib.nullcontext()
    with guard:
        from sfarrow.sync.platform import PlatformEventSource, PlatformSync
        from sfarrow.sync.replica import ChangeEventSource, EventSync

        if isinstance(flow.source, ChangeEventSource):
            sync = EventSync(flow, stop)
            with _holding(flow.destination):
                sync.serve()
            return sync.batches
        if isinstance(flow.source, PlatformEventSource):
            deliveries = PlatformSync(flow, stop)
            with _holding(flow.destination):
                deliveries.serve()
            return deliveries.batches
        trigger = flow.trigger
        if isinstance(trigger, Schedule):
            return Scheduler(trigger, clock).serve(lambda slot: _logged(flow, flow.run()), stop, last_run=flow.last_run())
        if isinstance(trigger, OnEvents):
            return _on_events(flow, trigger, stop)
        assert isinstance(trigger, OnDemand)
        _logged(flow, flow.run())
        return 1


@contextlib.contextmanager
def _holding(destination: Any) -> Iterator[None]:
    """A table destination's connection (or open table) kept for every micro-batch of a served
    flow of events, on this thread, then let go (see ``DatabaseDestination.hold``)."""
    hold, release = getattr(destination, "hold", None), getattr(destination, "release", None)
    if hold is None or release is None:
        yield
        return
    hold()
    try:
        yield
    finally:
        release()


async def serve_async(flow: Flow, clock: Optional[Clock] = None) -> int:
    """:func:`serve` on a thread of its own, the event loop free; signals as :func:`serve`."""
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def work() -> None:
        try:
            result: Optional[int] = serve(flow, clock, stop, signals=False)
            error: Optional[BaseException] = None
        except BaseException as e:
            result, error = None, e
        try:
            loop.call_soon_threadsafe(_settle, done, result, error)
        except RuntimeError:
            pass  # the loop has closed: nobody awaits the result any more

    installed = []
    if threading.current_thread() is threading.main_thread():

        def on_signal(name: str) -> None:
            if stop.is_set():
                _settle(done, None, KeyboardInterrupt(f"stopped by a second {name}: the run in progress was abandoned"))
                return
            log.warning("sfarrow: %s received; stopping once the current run commits (send it again to abort the run)", name)
            stop.set()

        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, on_signal, s.name)
            installed.append(s)
    # A daemon thread: an aborted run must not hold the process open.
    threading.Thread(target=work, name="sfarrow serve", daemon=True).start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        # Cancelled: the flow stops once its current run has committed, and this returns then.
        stop.set()
        with contextlib.suppress(BaseException):
            await done
        raise
    finally:
        for s in installed:
            loop.remove_signal_handler(s)


def _settle(future: asyncio.Future[int], result: Optional[int], error: Optional[BaseException]) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result or 0)


def _logged(flow: Flow, run: Any) -> Any:
    log.info(
        "sfarrow flow %s: read %d, wrote %d, failed %d in %.1f s; watermark %s",
        flow.name or repr(flow),
        run.records_read,
        run.records_written,
        run.records_failed,
        run.seconds,
        run.watermark,
    )
    return run


def _on_events(flow: Flow, trigger: OnEvents, stop: threading.Event) -> int:
    """A run at once (events may have come while nothing listened), then one per event, the
    events that arrive during a run making one more run between them."""
    conn = getattr(flow.source, "connection", None)
    if conn is None:
        raise ConfigurationError("OnEvents subscribes with the source's connection: use it with a SalesforceSource")
    events = Subscription(conn, trigger.topic)
    events.start("latest")
    runs = 0
    try:
        _logged(flow, flow.run())
        runs += 1
        while not stop.is_set():
            item = events.get(0.5)
            if item is None:
                continue
            if item is END:
                break
            if isinstance(item, BaseException):
                raise item
            events.ready()  # everything that came meanwhile is this one run
            _logged(flow, flow.run())
            runs += 1
    finally:
        events.close()
    return runs
