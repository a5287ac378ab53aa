"""Platform events appended to any destination, each once: :class:`PlatformEventSource`, served
by ``Flow.serve``.

Each micro-batch of events is one run of the flow. Its key is the replay id it starts after,
and the replay id of its last event is the state the run saves: in the same commit for a table
(Delta Lake, a database), or in the state file after a file destination has published (the
run's files are named by its key, so a batch delivered again after a crash replaces what the
crashed run published, never adds to it).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Optional

from sfarrow._state import run_state
from sfarrow.destinations._base import Run
from sfarrow.exceptions import ConfigurationError, ReplayIdError
from sfarrow.sources import Opened
from sfarrow.sync.stream import END, Subscription, check_batching, replay_hex

if TYPE_CHECKING:
    from sfarrow.connection import Connection
    from sfarrow.flow import Flow

log = logging.getLogger("sfarrow.sync")


class PlatformEventSource:
    """The events of a platform event topic (``/event/Order__e``), one row per event (its
    fields, ``replay_id`` and ``event_id``), for ``flow.serve()``.

    A flow that has never run starts at ``start``: ``"earliest"`` (every event the bus keeps,
    72 hours) or ``"latest"``. Then it resumes after the last event it delivered, saved with
    the run (the destination's state, or the flow's ``state=`` file). A micro-batch closes at
    ``batch_events`` events or ``batch_age`` seconds after its first event."""

    def __init__(
        self,
        connection: Connection,
        topic: str,
        *,
        start: Literal["earliest", "latest"] = "earliest",
        batch_events: int = 1000,
        batch_age: float = 1.0,
    ) -> None:
        if not isinstance(topic, str) or not topic.startswith("/event/"):
            raise ConfigurationError(f'a platform event topic is "/event/Name__e", got {topic!r} (change events: ChangeEventSource)')
        if start not in ("earliest", "latest"):
            raise ConfigurationError(f'start is "earliest" or "latest", got {start!r}')
        check_batching(batch_events, batch_age)
        self.connection = connection
        self.topic = topic
        self.start = start
        self.batch_events = batch_events
        self.batch_age = float(batch_age)

    def __repr__(self) -> str:
        return f"PlatformEventSource({self.topic!r})"

    @property
    def name(self) -> str:
        """The flow's default name: the event's (``Order__e``)."""
        return self.topic.rsplit("/", 1)[-1]

    def shape(self) -> dict[str, Any]:
        return {"events": self.topic}

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        raise ConfigurationError("platform events arrive as they are published: run the flow with flow.serve()")


class PlatformSync:
    """Delivers a :class:`PlatformEventSource`'s events until ``stop`` is set. Made by
    ``Flow.serve``."""

    def __init__(self, flow: Flow, stop: threading.Event, clock: Any = time.monotonic) -> None:
        assert isinstance(flow.source, PlatformEventSource)
        self.flow = flow
        self.source: PlatformEventSource = flow.source
        self.stop = stop
        self.clock = clock
        self.subscription = Subscription(self.source.connection, self.source.topic)
        self.replay_id: Optional[str] = None
        self.batches = 0

    def serve(self) -> None:
        self.replay_id = self.flow._saved_replay()
        try:
            if not self.subscription.start(self.replay_id or self.source.start):
                # Platform events cannot be read again from anywhere: say so, never skip silently.
                raise ReplayIdError(
                    f"the bus no longer keeps replay id {self.replay_id} of {self.source.topic}: the events after it are gone; "
                    "delete the flow's state to start again from the earliest event kept"
                )
            self._loop()
        finally:
            self.subscription.close()

    def _loop(self) -> None:
        pending: list[Any] = []
        count = 0
        opened = 0.0
        while not self.stop.is_set():
            wait = 0.5 if not pending else max(0.0, opened + self.source.batch_age - self.clock())
            item = self.subscription.get(min(wait, 0.5))
            if item is END:
                break
            if isinstance(item, BaseException):
                raise item
            if item is not None and item.num_rows:
                if not pending:
                    opened = self.clock()
                pending.append(item)
                count += item.num_rows
            if pending and (count >= self.source.batch_events or self.clock() >= opened + self.source.batch_age):
                self.deliver(pending)
                pending, count = [], 0
        pending += [b for b in self.subscription.ready() if b.num_rows]
        if pending:
            self.deliver(pending)

    def deliver(self, batches: list[Any]) -> None:
        """One run: the batches (grouped by schema: an event redefined meanwhile starts a new
        run) delivered with the replay id of the last event as the flow's state."""
        start = 0
        for end in range(1, len(batches) + 1):
            if end == len(batches) or not batches[end].schema.equals(batches[start].schema):
                self._run(batches[start:end])
                start = end

    def _run(self, batches: list[Any]) -> None:
        started = dt.datetime.now(dt.timezone.utc)
        replay = replay_hex(batches[-1])
        state = run_state(None, self.source.shape(), replay)
        flow = self.flow
        run = Run(f"events-after-{self.replay_id or 'start'}", flow=flow.name, state=state if flow.name else None, replay_from=self.replay_id)
        delivered = flow.destination.deliver(batches[0].schema, iter(batches), run)
        if flow.state is not None:
            flow.state.save_record(state, delivered.written)
        self.replay_id = replay
        self.batches += 1
        rows = sum(b.num_rows for b in batches)
        log.info(
            "sfarrow sync %s: delivered %d events in %.3f s; replay ids %s to %s",
            flow.name or self.source.name,
            rows,
            (dt.datetime.now(dt.timezone.utc) - started).total_seconds(),
            replay_hex(batches[0].slice(0, 1)),
            replay,
        )
