"""Waiting on conditions, never for a fixed time: poll with a deadline, and fail with what was
awaited when the deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float = 30.0, what: str = "the condition", every: float = 0.01) -> T:
    """Polls ``condition`` until it returns something true, and returns that; raises
    ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)


def next_org_second(conn: Any) -> None:
    """Returns once the org's clock (``conn.server_time()``, whole seconds from the ``Date``
    header) has moved past the second it reads now: what an incremental run with ``lag=0``
    reads up to, so that a change made before this returns falls inside the next run's window."""
    now = conn.server_time()
    wait_until(lambda: conn.server_time() > now, timeout=10, what="the org's clock to reach its next second", every=0.05)
