"""A subscription read on a thread of its own into a bounded queue, so that the loop applying
events can wait for the next batch with a deadline (which closes micro-batches by age) and
stop at once."""

from __future__ import annotations

import queue
import threading
from typing import Any, Optional

from sfarrow.exceptions import ConfigurationError, ReplayIdError

#: What the queue holds once the stream has ended.
END = object()
#: Stream batches (up to 100 events each) held between the stream and the apply loop: a table
#: slower than the org holds the stream back (the client then asks the bus for no more) rather
#: than filling memory.
QUEUED_BATCHES = 1000


class Subscription:
    """``topic`` read from a replay id (hex; ``"latest"`` or ``"earliest"``)."""

    def __init__(self, connection: Any, topic: str) -> None:
        self.connection = connection
        self.topic = topic
        self.stream: Any = None
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_BATCHES)
        self.held: Any = None

    def start(self, replay: str) -> bool:
        """Subscribes (closing any earlier stream, its queue dropped); False when the bus no
        longer keeps ``replay``."""
        self.close()
        self.queue = queue.Queue(maxsize=QUEUED_BATCHES)
        self.held = None
        try:
            self.stream = self.connection.subscribe(self.topic, replay=replay, on_invalid_replay="raise", batch_size=100)
        except ReplayIdError:
            return False
        threading.Thread(target=_pump, args=(self.stream, self.queue), name=f"sfarrow events {self.topic}", daemon=True).start()
        return True

    def get(self, timeout: float) -> Any:
        """The next batch, ``None`` after ``timeout`` seconds, :data:`END`, or the stream's error
        (returned, not raised: a ``ReplayIdError`` is the caller's to handle)."""
        if self.held is not None:
            held, self.held = self.held, None
            return held
        try:
            return self.queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def ready(self) -> list[Any]:
        """The batches already received, without waiting; an end or an error met on the way is
        kept for the next :meth:`get`."""
        out: list[Any] = []
        while self.held is None:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is END or isinstance(item, BaseException):
                self.held = item
            else:
                out.append(item)
        return out

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def _pump(stream: Any, into: queue.Queue[Any]) -> None:
    try:
        for batch in stream:
            into.put(batch)
    except BaseException as e:  # handed to the loop reading the queue
        into.put(e)
    into.put(END)


def replay_hex(batch: Any) -> Optional[str]:
    """The replay id of a batch's last event, as hex."""
    if not batch.num_rows:
        return None
    last = batch.column("replay_id")[batch.num_rows - 1].as_py()
    return bytes(last).hex() if last is not None else None


def check_batching(batch_events: Any, batch_age: Any) -> None:
    """A micro-batch's bounds: at most ``batch_events`` events, closed ``batch_age`` seconds
    after its first."""
    if not isinstance(batch_events, int) or isinstance(batch_events, bool) or not 1 <= batch_events <= 100_000:
        raise ConfigurationError(f"batch_events is a number of events from 1 to 100000, got {batch_events!r}")
    if not isinstance(batch_age, (int, float)) or isinstance(batch_age, bool) or not batch_age > 0:
        raise ConfigurationError(f"batch_age is a number of seconds above 0, got {batch_age!r}")
