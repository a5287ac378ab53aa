"""What a subscription promises beyond its events (issue 22): `subscribe_async` never holds up
the event loop; `close()` ends a stream at once from any thread or coroutine; a quiet stream
survives any number of drops whose resubscriptions succeed; a service that refuses every
session ends in `AuthenticationError` after a few renewals that back off; `request_timeout`
bounds a Pub/Sub endpoint that never answers; a `pubsub_url` with credentials is refused
without showing them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import sfarrow
from sfarrow._sfarrow import EventStream
from sfarrow.testing import Org

ORDER_FIELDS = [{"name": "Sku__c", "type": "string"}, {"name": "Qty__c", "type": "double"}]


def connect(org: Org, **options) -> sfarrow.Connection:
    return sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file, **options)


def jwt(org: Org) -> sfarrow.Connection:
    """A connection whose session renews itself (a bare access token cannot)."""
    return sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url, pubsub_url=org.pubsub_url, ca_file=org.ca_file)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, dict]:
    """Runs `target` on a daemon thread; the dict gets its "result" or "error"."""
    out: dict = {}

    def run():
        try:
            out["result"] = target()
        except BaseException as e:  # handed to the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def token_requests(org: Org) -> list[dict]:
    return [r for r in org.requests() if r["path"].endswith("/oauth2/token")]


# -- close -----------------------------------------------------------------------------------


def test_close_from_another_thread_ends_a_blocked_next_at_once():
    with Org(pubsub_keepalive=0.1) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        stream = connect(org).subscribe("/event/Order__e", replay="latest")
        reader, got = in_thread(lambda: list(stream))
        # A keepalive's position reached the reader: it is inside next(), waiting.
        wait_until(lambda: len(stream.replay_id) == 8, 10, "a keepalive")
        closer, closed = in_thread(stream.close)
        closer.join(5)
        assert not closer.is_alive(), "close() waited for the blocked next()"
        reader.join(5)
        assert not reader.is_alive(), "next() went on waiting after close()"
        assert got == {"result": []} and closed == {"result": None}
        assert list(stream) == []


def test_close_from_a_coroutine_ends_async_for_and_leaves_the_loop_free():
    async def main(stream: EventStream) -> tuple[list, float]:
        async def consume():
            return [b async for b in stream]

        task = asyncio.create_task(consume())
        while len(stream.replay_id) != 8:
            await asyncio.sleep(0.01)
        start = time.monotonic()
        stream.close()
        took = time.monotonic() - start
        return await asyncio.wait_for(task, 5), took

    with Org(pubsub_keepalive=0.1) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        stream = connect(org).subscribe("/event/Order__e", replay="latest")
        # On a thread of its own: a close() that blocks the loop would block this test too.
        runner, out = in_thread(lambda: asyncio.run(main(stream)))
        runner.join(20)
        assert not runner.is_alive(), "close() blocked the event loop"
        assert "error" not in out, out
        batches, took = out["result"]
        assert batches == [] and took < 1.0
