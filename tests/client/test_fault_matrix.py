"""The fault matrix: every kind of failure a network, a server or an operator inflicts, against
every way data moves (REST and Bulk reads, REST and Bulk writes, an incremental flow), each
asserting that no row is lost and none is duplicated.

For reads: a read that returns holds every record exactly once; one that fails raises (never a
short table). For writes: every row reported written is in the org once, every row reported
failed or never sent is not, and no row is in the org twice; a row whose outcome is unknown
may be there, once. For flows: after the failed runs and one more, the published files hold
every record exactly once."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow.dataset as ds
import pytest

import sfarrow
from sfarrow.testing import Org

ROWS = 3000
FAULTS = ["503", "drop", "truncate", "timeout", "token_expiry", "api_limit", "kill"]


def connect(org, fault: str) -> sfarrow.Connection:
    if fault == "token_expiry":
        org.set_token_lifetime(1.0)
        conn = sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url, retries=6)
        time.sleep(1.1)  # the session's lifetime runs out before the first call (the fault itself)
        return conn
    timeout = 1.0 if fault == "timeout" else 30.0
    return sfarrow.Connection(org.url, org.access_token, retries=6, request_timeout=timeout)


def inject(org, fault: str, path: str, calls: int = 2) -> None:
    """Arms the fault on requests whose path contains `path`; ``api_limit`` leaves ``calls``
    calls of the allowance."""
    if fault in ("503", "drop", "truncate"):
        # Once for certain (the second matching request), then at random.
        org.inject_fault(fault, nth=2, path=path)
        org.inject_fault(fault, rate=0.3, times=4, path=path)
    elif fault == "timeout":
        org.inject_fault("delay", delay=2.0, times=2, path=path)
    elif fault == "token_expiry":
        org.inject_fault("delay", delay=0.6, times=3, path=path)
    elif fault == "api_limit":
        # A read or write gets going, then the allowance runs out under it.
        used = org.api_usage()[0]
        org.set_api_limit(used + calls, used)


def fired(org, conn, fault: str) -> None:
    """The fault did strike (so the test is not passing by luck): the emulator's request log
    names the fault that struck each request."""
    log = org.requests()
    struck = set(org.faults_struck())
    assert {r["fault"] for r in log} - {None} <= struck
    if fault in ("503", "drop", "truncate"):
        assert fault in struck, f"{fault} never struck"
    elif fault == "timeout":
        assert "delay" in struck, "no request was held past the timeout"
    elif fault == "token_expiry":
        assert conn.renewals >= 1 and sum(r["grant_type"] is not None for r in log) >= 2, "the session was never renewed"
    elif fault == "api_limit":
        assert 403 in [r["status"] for r in log], "the allowance was never spent"
    else:
        raise AssertionError(f"no check for {fault}")


# -- reads ----------------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize("fault", FAULTS)
def test_reads_lose_and_repeat_nothing(fault, api):
    with Org(seed={"Account": ROWS}, https=False) as org:
        expected = set(sfarrow.Connection(org.url, org.access_token).query("SELECT Id FROM Account")["Id"].to_pylist())
        if fault == "kill":
            killed_then_rerun_read(org, api, expected)
            return
        conn = connect(org, fault)
        inject(org, fault, "/query" if api == "rest" else "/jobs/query")
        soql = "SELECT Id, Name FROM Account"
        try:
            seen = []
            for batch in conn.query_batches(soql, api=api, bulk_page_size=500, parallel=2):
                seen.extend(batch.column(0).to_pylist())
        except sfarrow.SalesforceError as e:
            assert fault == "api_limit", f"{fault}: {e}"
            assert isinstance(e, sfarrow.ApiLimitError)
            assert len(seen) == len(set(seen)) and set(seen) <= expected, "what arrived before the error is whole"
            org.set_api_limit(1_000_000)
            seen = conn.query(soql, api=api)["Id"].to_pylist()
        assert len(seen) == ROWS and set(seen) == expected
        fired(org, conn, fault)


def killed_then_rerun_read(org, api, expected):
    org.inject_fault("delay", delay=30.0, times=1, path="/query/" if api == "rest" else "/results")
    child = f"""
import sfarrow
conn = sfarrow.Connection({org.url!r}, {org.access_token!r})
print("ready", flush=True)
conn.query("SELECT Id FROM Account", api={api!r}, bulk_page_size=500)
"""
    kill_when(org, child, lambda log: any(("/query" in r["path"] or "/results" in r["path"]) for r in log))
    org.clear_faults()
    ids = sfarrow.Connection(org.url, org.access_token).query("SELECT Id FROM Account", api=api)["Id"].to_pylist()
    assert len(ids) == ROWS and set(ids) == expected


def kill_when(org, child: str, ready, grace: float = 0.5) -> None:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(child)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while not ready(org.requests()):
        assert time.monotonic() < deadline, "the child never got going"
        time.sleep(0.05)
    time.sleep(grace)
    assert proc.poll() is None, "the child ended before it was killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


# -- writes ---------------------------------------------------------------------------------
def check_write(org, tag: str, result) -> None:
    """Written rows are there once, failed and unsent rows are not, nothing is there twice."""
    org.set_api_limit(1_000_000)
    org.clear_faults()
    conn = sfarrow.Connection(org.url, org.access_token)
    stored = conn.query(f"SELECT Id, Name FROM Account WHERE Name LIKE '{tag}-%'")
    by_name = collections.Counter(stored["Name"].to_pylist())
    assert not [n for n, c in by_name.items() if c > 1], "a row was written twice"
    if result is None:
        return
    assert result.num_rows == ROWS and result["row"].to_pylist() == list(range(ROWS))
    for row in result.to_pylist():
        name = f"{tag}-{row['row']}"
        if row["success"]:
            assert by_name[name] == 1, f"row {row['row']} reported written is not there"
        elif row["error_code"] != "UNKNOWN_OUTCOME":
            assert by_name[name] == 0, f"row {row['row']} reported {row['error_code']} is there"


@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize("fault", FAULTS)
def test_writes_lose_and_repeat_nothing(fault, api):
    with Org(https=False) as org:
        tag = f"fm-{api}-{fault}"
        rows = [{"Name": f"{tag}-{i}"} for i in range(ROWS)]
        if fault == "kill":
            child = f"""
import sfarrow
conn = sfarrow.Connection({org.url!r}, {org.access_token!r})
print("ready", flush=True)
conn.insert("Account", [{{"Name": f"{tag}-{{i}}"}} for i in range({ROWS})], api={api!r}, parallel=2)
"""
            path = "/composite/sobjects" if api == "rest" else "/jobs/ingest"
            org.inject_fault("delay", delay=30.0, times=1, nth=3, path=path)
            kill_when(org, child, lambda log: sum(path in r["path"] for r in log) >= 2)
            check_write(org, tag, None)
            return
        conn = connect(org, fault)
        inject(org, fault, "/composite/sobjects" if api == "rest" else "/jobs/ingest")
        try:
            result = conn.insert("Account", rows, api=api, on_error="continue")
        except sfarrow.SalesforceError as e:
            assert fault == "api_limit", f"{fault}: {e}"
            result = e.result
            assert result is not None, "an error that stops a write carries its result"
        fired(org, conn, fault)
        check_write(org, tag, result)


# -- flows ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", FAULTS)
def test_incremental_flows_lose_and_repeat_nothing(fault, tmp_path):
    with Org(seed={"Account": ROWS}, https=False) as org:
        expected = set(sfarrow.Connection(org.url, org.access_token).query("SELECT Id FROM Account")["Id"].to_pylist())
        out, state = tmp_path / "out", tmp_path / "state.json"

        def flow(conn):
            source = sfarrow.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp", bulk_page_size=500)
            return sfarrow.Flow(source, sfarrow.ParquetDestination(out, max_rows_per_file=700), state=state, progress=False)

        if fault == "kill":
            org.inject_fault("delay", delay=30.0, times=1, path="/query/")
            child = f"""
import sfarrow
conn = sfarrow.Connection({org.url!r}, {org.access_token!r})
print("ready", flush=True)
source = sfarrow.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp")
sfarrow.Flow(source, sfarrow.ParquetDestination({str(out)!r}, max_rows_per_file=700), state={str(state)!r}, progress=False).run()
"""
            kill_when(org, child, lambda log: any(r["path"].endswith("/query") for r in log))
            org.clear_faults()
            assert not state.exists(), "the killed run saved no watermark"
        else:
            conn = connect(org, fault)
            # A flow's read: describe, the count, the first page; the allowance ends at the next.
            inject(org, fault, "/query", calls=3)
            if fault == "api_limit":
                # A flow never swallows an error that stops its read: it raises, and keeps
                # its watermark where it was.
                with pytest.raises(sfarrow.ApiLimitError):
                    flow(conn).run()
                assert not state.exists()
                org.set_api_limit(1_000_000)
            else:
                assert flow(conn).run().records_read == ROWS, "retries carry a run through the fault"
            fired(org, conn, fault)
        flow(sfarrow.Connection(org.url, org.access_token)).run()
        ids = ds.dataset(out).to_table()["Id"].to_pylist() if out.exists() else []
        assert len(ids) == ROWS and set(ids) == expected, f"{len(ids)} published for {ROWS}"
