"""Reads under a hostile network: a streamed read fails with the same typed error a whole read
does, stops at Ctrl-C, never takes a short page for a whole one, never loses a cursor to its
own siblings, cleans up its Bulk jobs, and keeps to its share of the API allowance."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pytest
import requests
from waits import wait_until

import sfarrow
from sfarrow.testing import Org


@pytest.fixture(scope="module")
def big():
    with Org(seed={"Account": 30_000}, https=False) as o:
        yield o


def revoke(org, token: str) -> None:
    requests.post(f"{org.url}/services/oauth2/revoke", data={"token": token}, timeout=10)


# -- 9: typed errors in the middle of a stream ---------------------------------------------
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_spent_allowance_midway_raises_api_limit_error(big, api):
    conn = sfarrow.Connection(big.url, big.access_token, retries=1)
    reader = conn.query_batches("SELECT Id, Name FROM Account", api=api, parallel=1, bulk_page_size=1000)
    first = reader.read_next_batch()
    assert first.num_rows > 0
    used, _ = big.api_usage()
    big.set_api_limit(used, used=used)
    try:
        with pytest.raises(sfarrow.ApiLimitError) as e:
            for _ in reader:
                pass
        assert e.value.error_code == "REQUEST_LIMIT_EXCEEDED" and e.value.status == 403
    finally:
        big.set_api_limit(1_000_000)


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_an_expired_session_midway_raises_authentication_error(big, api):
    token = requests.post(
        f"{big.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": big.client_id, "client_secret": big.client_secret},
        timeout=10,
    ).json()["access_token"]
    conn = sfarrow.Connection(big.url, token, retries=1)
    reader = conn.query_batches("SELECT Id, Name FROM Account", api=api, parallel=1, bulk_page_size=1000)
    assert reader.read_next_batch().num_rows > 0
    revoke(big, token)
    with pytest.raises(sfarrow.AuthenticationError) as e:
        for _ in reader:
            pass
    assert e.value.error_code == "INVALID_SESSION_ID" and e.value.status == 401


def test_an_api_error_midway_keeps_its_code_and_fields(big):
    conn = sfarrow.Connection(big.url, big.access_token, retries=0)
    reader = conn.query_batches("SELECT Id FROM Account", api="rest", parallel=1)
    reader.read_next_batch()
    big.inject_fault("503", path="/query/", rate=1.0)
    try:
        with pytest.raises(sfarrow.ApiError) as e:
            for _ in reader:
                pass
        assert e.value.error_code == "SERVER_UNAVAILABLE" and e.value.status == 503
    finally:
        big.clear_faults()


# -- 10: Ctrl-C while a page is slow ---------------------------------------------------------
CHILD = """
import sys, time, sfarrow
conn = sfarrow.Connection({url!r}, {token!r})
print("ready", flush=True)
started = None
try:
    {body}
except KeyboardInterrupt:
    print(f"interrupted {{time.monotonic() - started:.2f}}", flush=True)
    sys.exit(0)
sys.exit(3)
"""


def interrupt(org, body: str, wait_for) -> float:
    """Runs `body` in a child, sends SIGINT once `wait_for(requests)` holds, and returns how
    long the child took to stop."""
    child = textwrap.dedent(CHILD).format(url=org.url, token=org.access_token, body=textwrap.indent(body, "    ").strip())
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while not wait_for(org.requests()):
        assert time.monotonic() < deadline, "the slow request never went out"
        time.sleep(0.05)
    # The held request has reached the org (its fault struck), and the child has started its
    # clock (a signal before that would find no start to measure from): it waits on it now.
    wait_until(lambda: "delay" in org.faults_struck(), timeout=30, what="the slow request to reach the org")
    assert proc.stdout.readline().strip() == "waiting"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return float(out.split()[1])


def test_ctrl_c_stops_a_streamed_read_waiting_for_a_slow_page():
    with Org(seed={"Account": 5000}, https=False) as org:
        org.inject_fault("delay", path="/query/", delay=120.0)
        body = """
reader = conn.query_batches("SELECT Id FROM Account", api="rest", parallel=1)
reader.read_next_batch()
started = time.monotonic()
print("waiting", flush=True)
for b in reader:
    pass
"""
        took = interrupt(org, body, lambda log: any(r["path"].endswith("/query") for r in log))
        assert took < 2.0, took


def test_ctrl_c_stops_a_flow_run():
    with Org(seed={"Account": 5000}, https=False) as org:
        org.inject_fault("delay", path="/query/", delay=120.0)
        body = """
import tempfile
flow = sfarrow.Flow(sfarrow.SalesforceSource(conn, "Account", fields=["Id"], api="rest"),
                    sfarrow.ParquetDestination(tempfile.mkdtemp()), progress=False)
started = time.monotonic()
print("waiting", flush=True)
flow.run()
"""
        took = interrupt(org, body, lambda log: any(r["path"].endswith("/query") for r in log))
        assert took < 2.0, took


# -- 14: a page short of rows ---------------------------------------------------------------
def test_a_bulk_page_cut_at_a_line_is_fetched_again():
    with Org(seed={"Account": 3000}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        org.inject_fault("short_page", nth=1, path="/results")
        table = conn.query("SELECT Id FROM Account", api="bulk", bulk_page_size=1000)
        assert table.num_rows == 3000 and len(set(table["Id"].to_pylist())) == 3000
        pages = [r for r in org.requests() if "/results" in r["path"]]
        assert len(pages) == 4, "the short page was fetched again"


def test_a_bulk_page_that_stays_short_fails_the_read():
    with Org(seed={"Account": 3000}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token, retries=2)
        org.inject_fault("short_page", path="/results", rate=1.0)
        with pytest.raises(sfarrow.TransportError, match="Sforce-NumberOfRecords"):
            conn.query("SELECT Id FROM Account", api="bulk", bulk_page_size=1000)


def test_pages_that_agree_with_themselves_are_still_checked_against_the_totals():
    # Each page is whole by its own account (Sforce-NumberOfRecords, valid JSON): only the
    # job's numberRecordsProcessed and the query's totalSize show that rows were lost.
    with Org(seed={"Account": 3000}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        org.inject_fault("lost_rows", nth=2, path="/results")
        with pytest.raises(sfarrow.TransportError, match="processed 3000 records but its result pages held 2500"):
            conn.query("SELECT Id FROM Account", api="bulk", bulk_page_size=1000)
        assert [r["status"] for r in org.requests() if "/results" in r["path"]] == [200, 200, 200], "the fault fired"
        org.inject_fault("lost_rows", nth=1, path="/query/01g")  # a REST page, not a Bulk job
        with pytest.raises(sfarrow.TransportError, match="the query said 3000 records but its pages held 2500"):
            conn.query("SELECT Id FROM Account", api="rest")
        assert conn.query("SELECT Id FROM Account", api="rest").num_rows == 3000, "the same read without the fault is whole"


# -- 21: many reads at once on one connection -----------------------------------------------
def test_fifty_concurrent_rest_reads_keep_their_cursors():
    with Org(seed={"Account": 2500}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)

        async def main():
            return await asyncio.gather(*[conn.query_async("SELECT Id FROM Account", api="rest") for _ in range(50)])

        tables = asyncio.run(main())
        assert [t.num_rows for t in tables] == [2500] * 50
        assert not [r for r in org.requests() if r["status"] == 400]


def test_a_read_whose_cursor_was_dropped_before_any_row_was_taken_starts_again():
    with Org(seed={"Account": 2500}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        # Another client opens ten cursors while this read waits for its second page, and the
        # org drops this read's cursor (the oldest): nothing was taken yet, so it starts again.
        org.inject_fault("delay", nth=1, path="/query/", delay=1.5)
        reader = conn.query_batches("SELECT Id FROM Account", api="rest", parallel=1)
        headers = {"Authorization": f"Bearer {org.access_token}"}
        for _ in range(10):
            requests.get(f"{org.url}/services/data/v58.0/query", params={"q": "SELECT Id FROM Account"}, headers=headers, timeout=10)

        def firsts():
            return [r for r in org.requests() if r["path"].endswith("/query") and r["headers"].get("user-agent", "").startswith("sfarrow")]

        # The held second page was answered (its cursor gone) before anything was taken, and the
        # read has begun again. Waiting on the answer alone races the reader: a batch taken
        # between the logged answer and the client seeing it would make the restart unsafe.
        wait_until(lambda: len(firsts()) == 2, timeout=20, what="the query's second start")
        ids = [i for b in reader for i in b.column(0).to_pylist()]
        assert len(ids) == 2500 and len(set(ids)) == 2500, "every row once"
        assert len(firsts()) == 2, "the query started again, once"


def test_a_read_whose_cursor_was_dropped_after_rows_were_taken_fails():
    with Org(seed={"Account": 2500}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        org.inject_fault("delay", nth=1, path="/query/", delay=1.5)
        reader = conn.query_batches("SELECT Id FROM Account", api="rest", parallel=1)
        assert reader.read_next_batch().num_rows == 2000
        headers = {"Authorization": f"Bearer {org.access_token}"}
        for _ in range(10):
            requests.get(f"{org.url}/services/data/v58.0/query", params={"q": "SELECT Id FROM Account"}, headers=headers, timeout=10)
        with pytest.raises(sfarrow.ApiError) as e:
            reader.read_next_batch()
        assert e.value.error_code == "INVALID_QUERY_LOCATOR"


# -- 23, 24: creating and cleaning up Bulk query jobs ------------------------------------------
@pytest.mark.parametrize("fault", ["drop", "drop_after", "503"])
def test_a_lost_answer_to_creating_a_query_job_is_retried(fault):
    with Org(seed={"Account": 100}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        org.inject_fault(fault, nth=1, path="/jobs/query")
        assert conn.query("SELECT Id FROM Account", api="bulk").num_rows == 100


def test_an_abandoned_bulk_read_deletes_its_finished_job():
    with Org(seed={"Account": 3000}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        reader = conn.query_batches("SELECT Id FROM Account", api="bulk", bulk_page_size=1000, parallel=1)
        reader.read_next_batch()
        del reader
        import gc

        gc.collect()
        deadline = time.monotonic() + 10
        while not [r for r in org.requests() if r["method"] == "DELETE"]:
            assert time.monotonic() < deadline, "the job was never deleted"
            time.sleep(0.05)
        log = org.requests()
        assert [r["status"] for r in log if r["method"] == "DELETE"] == [204]
        assert not [r for r in log if r["method"] == "PATCH"], "a finished job is deleted, not aborted"


def test_a_finished_bulk_read_deletes_its_job():
    with Org(seed={"Account": 50}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        assert conn.query("SELECT Id FROM Account", api="bulk").num_rows == 50
        deadline = time.monotonic() + 10
        while not [r for r in org.requests() if r["method"] == "DELETE"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [r["status"] for r in org.requests() if r["method"] == "DELETE"] == [204]


# -- 12: the token endpoint fails like any other ------------------------------------------------
def test_a_503_from_the_token_endpoint_during_renewal_is_retried():
    with Org(seed={"Account": 10}, https=False) as org:
        org.set_token_lifetime(1.0)
        conn = sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url)
        org.expire_sessions()
        org.inject_fault("503", nth=1, path="/oauth2/token")
        assert conn.query("SELECT Id FROM Account").num_rows == 10
        assert conn.renewals == 1
        grants = [r for r in org.requests() if r["path"].endswith("/oauth2/token")]
        assert [r["status"] for r in grants][-2:] == [503, 200]


def test_a_token_endpoint_that_stays_down_is_not_an_authentication_error():
    with Org(https=False) as org:
        org.inject_fault("503", path="/oauth2/token", rate=1.0)
        with pytest.raises(sfarrow.ApiError) as e:
            sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url, retries=1)
        assert not isinstance(e.value, sfarrow.AuthenticationError) and e.value.status == 503


# -- the quota guard -----------------------------------------------------------------------
def test_api_budget_stops_a_read_before_it_spends_more_than_its_share(big):
    big.set_api_limit(100, used=40)
    try:
        conn = sfarrow.Connection(big.url, big.access_token, api_budget=0.5)
        with pytest.raises(sfarrow.ApiLimitError, match="api_budget"):
            conn.query("SELECT Id FROM Account", api="rest")
        assert big.api_usage()[0] <= 50
    finally:
        big.set_api_limit(1_000_000)


def test_api_budget_stops_a_flow(big, tmp_path):
    big.set_api_limit(100, used=45)
    try:
        conn = sfarrow.Connection(big.url, big.access_token, api_budget=0.5)
        flow = sfarrow.Flow(
            sfarrow.SalesforceSource(conn, "Account", fields=["Id"], api="rest"),
            sfarrow.ParquetDestination(tmp_path / "out"),
            progress=False,
        )
        with pytest.raises(sfarrow.ApiLimitError):
            flow.run()
        assert big.api_usage()[0] <= 50
        assert not [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    finally:
        big.set_api_limit(1_000_000)


@pytest.mark.parametrize("budget", [0, -0.1, 1.5, float("nan")])
def test_api_budget_must_be_a_share(big, budget):
    with pytest.raises(sfarrow.ConfigurationError, match="api_budget"):
        sfarrow.Connection(big.url, big.access_token, api_budget=budget)


def test_streamed_batches_are_pyarrow(big):
    conn = sfarrow.Connection(big.url, big.access_token)
    reader = conn.query_batches("SELECT Id, Name FROM Account LIMIT 10")
    assert isinstance(reader, pa.RecordBatchReader)
    table = reader.read_all()
    assert table.num_rows == 10 and table.schema.metadata[b"sfarrow.api"] == b"rest"
