"""What a subscription promises beyond its events (issue 22): `subscribe_async` never holds up
the event loop; `close()` ends a stream at once from any thread or coroutine; a quiet stream
survives any number of drops whose resubscriptions succeed; a service that refuses every
session ends in `AuthenticationError` after a few renewals that back off; `request_timeout`
bounds a Pub/Sub endpoint that never answers; a `pubsub_url` with credentials is refused
without showing them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pyarrow as pa
import pytest

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


# -- subscribe_async -------------------------------------------------------------------------


def test_subscribe_async_never_blocks_the_event_loop_and_delivers_later_writes():
    async def main(org: Org, conn: sfarrow.Connection) -> tuple[pa.Table, int, int]:
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        # The first Subscribe call fails: going live takes a retry (about 250 ms).
        org.inject_pubsub_fault("unavailable")
        before = ticks
        stream = await conn.subscribe_async("/event/Order__e", replay="latest", max_events=2)
        during_setup = ticks - before
        assert isinstance(stream, EventStream)
        out = []
        async with stream as s:
            assert s is stream
            first = asyncio.ensure_future(s.__anext__())
            # Waits for events with the loop free: the ticker goes on meanwhile.
            before = ticks
            while ticks - before < 50:
                await asyncio.sleep(0.01)
            assert not first.done()
            res = await conn.publish_async("/event/Order__e", [{"Sku__c": "A"}, {"Sku__c": "B"}])
            assert res["success"].to_pylist() == [True, True]
            out.append(await first)
            async for b in s:
                out.append(b)
        during_wait = ticks - before
        tick_task.cancel()
        return pa.Table.from_batches(out), during_setup, during_wait

    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        t, during_setup, during_wait = asyncio.run(asyncio.wait_for(main(org, conn), 30))
    assert t["Sku__c"].to_pylist() == ["A", "B"]
    assert during_setup > 20, during_setup  # a blocking setup would leave it at 0
    assert during_wait > 50


def test_subscribe_async_takes_the_same_arguments_and_raises_the_same_errors():
    async def main(conn: sfarrow.Connection) -> None:
        for bad in ({"replay": ""}, {"replay": "zz"}, {"batch_size": 101}, {"on_invalid_replay": "skip"}, {"max_events": 0}):
            with pytest.raises(ValueError):
                await conn.subscribe_async("/event/Order__e", **bad)
        with pytest.raises(sfarrow.ConfigurationError):
            await conn.subscribe_async("/event/Order__e", idle_timeout=-1)
        s = await conn.subscribe_async("/event/Order__e", replay="earliest", idle_timeout=0.5)
        async with s:
            assert [b async for b in s] == []
            assert len(s.replay_id) == 8

    with Org(pubsub_keepalive=0.1) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        asyncio.run(asyncio.wait_for(main(connect(org)), 30))


def test_subscribe_returns_once_live_even_when_the_first_call_fails():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        # Topic and schema known: the publish below takes milliseconds, not a retry's pause.
        assert conn.publish("/event/Order__e", [{"Sku__c": "before"}])["success"][0].as_py()
        org.inject_pubsub_fault("unavailable")
        with conn.subscribe("/event/Order__e", replay="latest", max_events=1, idle_timeout=5) as s:
            assert conn.publish("/event/Order__e", [{"Sku__c": "right after"}])["success"][0].as_py()
            got = [b for b in s]
        assert s.reconnects == 1
        assert [sku for b in got for sku in b["Sku__c"].to_pylist()] == ["right after"]


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


# -- reconnects ------------------------------------------------------------------------------


def test_a_quiet_stream_survives_ten_drops_each_followed_by_a_live_resubscription():
    with Org(pubsub_keepalive=0.1) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        org.define_event("Other__e", ORDER_FIELDS)
        conn = connect(org)
        # Publishes through a connection of its own: a drop cuts the subscriber's.
        publisher = connect(org)
        stream = conn.subscribe("/event/Order__e", replay="latest")
        reader, got = in_thread(lambda: pa.Table.from_batches([next(stream)]))
        wait_until(lambda: len(stream.replay_id) == 8, 10, "the first keepalive")
        for i in range(10):
            org.inject_pubsub_fault("drop")
            wait_until(lambda n=i + 1: stream.reconnects == n or not reader.is_alive(), 10, f"reconnect {i + 1}")
            assert reader.is_alive(), got
            # Another topic's event moves the org's position: only a keepalive of the new
            # call can report it, so once the reader has it the resubscription is live.
            seen = stream.replay_id
            moved = publisher.publish("/event/Other__e", [{"Sku__c": "elsewhere"}])["replay_id"][0].as_py()
            assert moved > seen
            wait_until(lambda moved=moved: stream.replay_id >= moved or not reader.is_alive(), 10, f"a keepalive after drop {i + 1}")
        assert publisher.publish("/event/Order__e", [{"Sku__c": "after ten drops"}])["success"][0].as_py()
        reader.join(20)
        stream.close()
        assert "error" not in got, got["error"]
        assert got["result"]["Sku__c"].to_pylist() == ["after ten drops"]
        assert stream.reconnects == 10


# -- renewals --------------------------------------------------------------------------------


def test_a_service_that_refuses_every_session_ends_in_authentication_error_after_few_renewals():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = jwt(org)  # retries=4: five attempts
        org.inject_pubsub_fault("unauthenticated", times=1_000_000)
        org.clear_requests()

        def first_batch():
            with conn.subscribe("/event/Order__e", replay="earliest") as s:
                return next(s, None)

        reader, out = in_thread(first_batch)
        reader.join(30)
        tokens = token_requests(org)
        assert not reader.is_alive(), f"still renewing: {len(tokens)} token requests"
        assert isinstance(out.get("error"), sfarrow.AuthenticationError), out
        assert 1 <= len(tokens) <= 5, len(tokens)
        # Each renewal after the first waits longer than the one before.
        times = [r["time"] for r in tokens]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(gaps) >= 3 and gaps[0] >= 0.15 and gaps[-1] > gaps[0] * 2, gaps

        org.clear_requests()
        start = time.monotonic()
        with pytest.raises(sfarrow.AuthenticationError):
            conn.publish("/event/Order__e", [{"Sku__c": "refused"}])
        assert 1 <= len(token_requests(org)) <= 5
        assert time.monotonic() - start < 30
        org.clear_pubsub_faults()
        assert conn.publish("/event/Order__e", [{"Sku__c": "accepted"}])["success"].to_pylist() == [True]


# -- request_timeout -------------------------------------------------------------------------


class SilentServer:
    """A TCP listener on loopback that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(c)

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        for c in self.accepted:
            c.close()
        self.sock.close()


def test_request_timeout_bounds_a_pubsub_endpoint_that_never_answers():
    server = SilentServer()
    try:
        with Org() as org:
            org.define_event("Order__e", ORDER_FIELDS)
            conn = sfarrow.Connection(
                org.url, org.access_token, ca_file=org.ca_file, pubsub_url=f"http://127.0.0.1:{server.port}", request_timeout=1.0, retries=1
            )
            for call in (
                lambda: conn.publish("/event/Order__e", [{"Sku__c": "x"}]),
                lambda: next(conn.subscribe("/event/Order__e", replay="earliest"), None),
            ):
                start = time.monotonic()
                t, out = in_thread(call)
                t.join(15)  # untimed, each attempt took about 50 s
                assert not t.is_alive(), "no timeout on the Pub/Sub call"
                assert isinstance(out.get("error"), sfarrow.TransportError), out
                assert time.monotonic() - start < 15
            assert server.accepted, "the calls never reached the silent server"
    finally:
        server.close()


# -- pubsub_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cret-Pa55@api.pubsub.salesforce.com:7443",
        "user:s3cret-Pa55@api.pubsub.salesforce.com:7443",
        "https://s3cret-Pa55@api.pubsub.salesforce.com",
        "https://user:s3cret-Pa55@api.pubsub.salesforce.com:7443/path",
        "https://user:s3cret-Pa55@api.pubsub.salesforce.com:port",
    ],
)
def test_a_pubsub_url_with_credentials_is_refused_without_showing_them(url):
    with Org(pubsub=False) as org:
        with pytest.raises(sfarrow.ConfigurationError) as e:
            sfarrow.Connection(org.url, org.access_token, ca_file=org.ca_file, pubsub_url=url)
    assert "s3cret-Pa55" not in str(e.value) and "s3cret-Pa55" not in repr(e.value.args)
    assert "api.pubsub.salesforce.com" in str(e.value)
