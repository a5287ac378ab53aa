"""Every network call has an `_async` twin taking the same arguments with the same defaults,
and doing the same thing: streams and writes included."""

from __future__ import annotations

import asyncio
import inspect
import time

import pyarrow as pa
import pytest
from waits import wait_until

import sfarrow
from sfarrow.testing import Org


def twins(cls):
    names = {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
    return sorted((n, f"{n}_async") for n in names if f"{n}_async" in names)


def test_each_async_twin_has_its_sync_twins_signature():
    pairs = twins(sfarrow.Connection)
    expected = {
        "jwt",
        "refresh_token",
        "client_credentials",
        "authorization_code",
        "device",
        "query",
        "query_batches",
        "schema",
        "write",
        "insert",
        "update",
        "upsert",
        "delete",
        "limits",
        "request",
        "server_time",
        "subscribe",
        "publish",
    }
    assert expected <= {a for a, _ in pairs}, expected - {a for a, _ in pairs}
    for sync, asynchronous in pairs:
        a = inspect.signature(getattr(sfarrow.Connection, sync))
        b = inspect.signature(getattr(sfarrow.Connection, asynchronous))
        assert list(a.parameters.values()) == list(b.parameters.values()), sync
    ctor = list(inspect.signature(sfarrow.Connection.__init__).parameters.values())[1:]
    assert list(inspect.signature(sfarrow.Connection.from_session_async).parameters.values()) == ctor
    assert inspect.isasyncgenfunction(sfarrow.Connection.query_batches_async)
    assert sfarrow.Flow.run_async and inspect.iscoroutinefunction(sfarrow.Flow.run_async)


@pytest.fixture(scope="module")
def big():
    with Org(seed={"Account": 30_000}, https=False) as o:
        yield o


def test_query_batches_async_streams_every_row(big):
    conn = sfarrow.Connection(big.url, big.access_token)

    async def main():
        seen = []
        async for batch in conn.query_batches_async("SELECT Id FROM Account", api="bulk", bulk_page_size=5000):
            assert isinstance(batch, pa.RecordBatch)
            seen.extend(batch.column(0).to_pylist())
        return seen

    seen = asyncio.run(main())
    assert len(seen) == 30_000 and len(set(seen)) == 30_000


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_query_batches_async_fails_midway_with_the_typed_error(big, api):
    async def limit():
        conn = await sfarrow.Connection.from_session_async(big.url, big.access_token, retries=1)
        stream = conn.query_batches_async("SELECT Id, Name FROM Account", api=api, parallel=1, bulk_page_size=1000)
        assert (await stream.__anext__()).num_rows > 0
        used = big.api_usage()[0]
        big.set_api_limit(used, used=used)
        async for _ in stream:
            pass

    with pytest.raises(sfarrow.ApiLimitError) as e:
        asyncio.run(limit())
    assert e.value.error_code == "REQUEST_LIMIT_EXCEEDED" and e.value.status == 403
    big.set_api_limit(1_000_000)

    token = asyncio.run(_client_credentials_token(big))

    async def expired():
        conn = sfarrow.Connection(big.url, token, retries=1)
        stream = conn.query_batches_async("SELECT Id, Name FROM Account", api=api, parallel=1, bulk_page_size=1000)
        assert (await stream.__anext__()).num_rows > 0
        import requests

        requests.post(f"{big.url}/services/oauth2/revoke", data={"token": token}, timeout=10)
        async for _ in stream:
            pass

    with pytest.raises(sfarrow.AuthenticationError) as e:
        asyncio.run(expired())
    assert e.value.error_code == "INVALID_SESSION_ID" and e.value.status == 401


async def _client_credentials_token(org) -> str:
    import requests

    return requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": org.client_secret},
        timeout=10,
    ).json()["access_token"]


def test_write_async_streams_its_input(big):
    """write_async pulls a generator-backed input batch by batch (the generator runs while the
    write is under way), and a failing input gives the same WriteError as write."""
    conn = sfarrow.Connection(big.url, big.access_token)
    schema = pa.schema([("Name", pa.string())])
    pulled = []

    def batches(n, fail=False):
        for b in range(n):
            pulled.append(b)
            yield pa.record_batch([pa.array([f"aw-{b}-{i}" for i in range(500)])], schema=schema)
        if fail:
            raise ValueError("the source broke")

    async def main():
        result = await conn.insert_async("Account", pa.RecordBatchReader.from_batches(schema, batches(6)), api="bulk", bulk_threshold=1)
        return result

    result = asyncio.run(main())
    assert result.num_rows == 3000 and all(result["success"].to_pylist())
    assert pulled == list(range(6))

    # Streamed, not buffered: the fourth batch is only handed over once the first rows have
    # reached the org. A write that read all its input before sending would wait forever here,
    # and the input gives up with an error of its own.
    big.clear_requests()

    def after_the_first_call(n):
        for b in range(n):
            if b == 3:
                deadline = time.monotonic() + 20
                while not any(r["path"].endswith("/composite/sobjects") for r in big.requests()):
                    if time.monotonic() > deadline:
                        raise RuntimeError("write_async read its whole input before sending anything")
                    time.sleep(0.01)
            yield pa.record_batch([pa.array([f"aws-{b}-{i}" for i in range(200)])], schema=schema)

    async def streamed():
        return await conn.insert_async("Account", pa.RecordBatchReader.from_batches(schema, after_the_first_call(6)), api="rest")

    assert all(asyncio.run(streamed())["success"].to_pylist())

    async def failing():
        await conn.insert_async("Account", pa.RecordBatchReader.from_batches(schema, batches(3, fail=True)), api="rest")

    with pytest.raises(sfarrow.WriteError) as e:
        asyncio.run(failing())
    assert e.value.error_code == "INPUT_FAILED" and e.value.result.num_rows == 1500


def test_interactive_grants_have_async_constructors():
    with Org(https=False) as org:
        import requests

        def approve(prompt):
            code, uri = prompt
            requests.get(uri, params={"user_code": code}, timeout=10)

        async def main():
            return await sfarrow.Connection.device_async(org.client_id, environment=org.url, prompt=approve, timeout=30)

        conn = asyncio.run(main())
        assert conn.grant == "refresh_token" and conn.limits()


def test_flow_run_async_awaits_the_network_on_the_event_loop(big, monkeypatch, tmp_path):
    """Salesforce to Salesforce: every read and write is awaited, none is handed to a thread."""
    with Org(https=False) as target:
        source = sfarrow.SalesforceSource(sfarrow.Connection(big.url, big.access_token), "Account", fields=["Name"], api="rest")
        destination = sfarrow.SalesforceDestination(sfarrow.Connection(target.url, target.access_token), "Account", chunk_rows=4000)
        threads = []
        real = asyncio.to_thread

        async def counted(*args, **kwargs):
            threads.append(args[0])
            return await real(*args, **kwargs)

        expected = big.count("Account")
        monkeypatch.setattr(asyncio, "to_thread", counted)
        run = asyncio.run(sfarrow.Flow(source, destination, progress=False).run_async())
        assert run.records_read == expected and run.records_written == expected
        assert threads == [], threads
        assert target.count("Account") == expected


def test_flow_run_async_to_files_matches_run(big, tmp_path):
    def flow(out):
        source = sfarrow.SalesforceSource(sfarrow.Connection(big.url, big.access_token), "Account", fields=["Id", "Name"], incremental="SystemModstamp")
        return sfarrow.Flow(source, sfarrow.ParquetDestination(out, max_rows_per_file=7000), state=tmp_path / f"{out.name}.json", progress=False)

    sync = flow(tmp_path / "sync").run()
    asynchronous = asyncio.run(flow(tmp_path / "async").run_async())
    assert (sync.records_read, sync.records_written, len(sync.paths)) == (asynchronous.records_read, asynchronous.records_written, len(asynchronous.paths))
    import pyarrow.dataset as ds

    a = sorted(ds.dataset(tmp_path / "sync").to_table()["Id"].to_pylist())
    b = sorted(ds.dataset(tmp_path / "async").to_table()["Id"].to_pylist())
    assert a == b and len(a) == sync.records_read > 29_000


def test_cancelling_an_awaited_bulk_read_aborts_its_job():
    # asyncio.wait_for cancels the awaitable: the read behind it stops and its job is aborted.
    with Org(seed={"Account": 50}, job_latency=60.0) as org:
        conn = sfarrow.Connection(org.url, org.access_token)

        async def main() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(conn.query_async("SELECT Id FROM Account", api="bulk"), 1.0)

        asyncio.run(main())

        def job_calls(method: str) -> list:
            return [r for r in org.requests() if r["method"] == method and "/jobs/query/" in r["path"]]

        # The abort and the delete go out from the runtime's threads after the cancel.
        wait_until(lambda: job_calls("DELETE"), timeout=10, what="the cancelled read's job to be deleted")
        assert len(job_calls("PATCH")) == 1 and len(job_calls("DELETE")) == 1


EXIT_AFTER_ASYNC = """
import asyncio, sys
import sfarrow
conn = sfarrow.Connection(sys.argv[1], sys.argv[2])

async def main():
    n = 0
    async for batch in conn.query_batches_async("SELECT Id FROM Account", api="bulk", bulk_page_size=100):
        n += batch.num_rows
    # Left in flight when the loop closes: nobody awaits it, and the exit must stay clean.
    asyncio.ensure_future(conn.limits_async())
    return n

print(asyncio.run(main()))
"""


def test_the_interpreter_exits_cleanly_right_after_async_calls():
    # A runtime thread still handing over a result as the interpreter exits used to crash the
    # process (SIGSEGV, SIGBUS or SIGABRT, about one run in three); each run here must exit 0.
    import subprocess
    import sys

    with Org(seed={"Account": 1000}) as org:
        for _ in range(20):
            out = subprocess.run([sys.executable, "-c", EXIT_AFTER_ASYNC, org.url, org.access_token], capture_output=True, text=True, timeout=60)
            assert (out.returncode, out.stdout.strip()) == (0, "1000"), out.stderr[-2000:]
