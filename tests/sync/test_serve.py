"""``flow.serve()`` by each trigger, against the emulator: a schedule over a simulated clock,
platform events that start runs (and coalesce), ``serve_async``, and the process-level promise:
the first SIGTERM lets the current run commit, a second aborts it and keeps the last commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading

import pytest
from sync_helpers import FIELDS, connect, destination, served, table_rows, wait_equal
from waits import next_org_second, wait_until

import sfarrow
from sfarrow.testing import Org


def incremental(conn: sfarrow.Connection) -> sfarrow.SalesforceSource:
    return sfarrow.SalesforceSource(conn, "Account", fields=FIELDS, incremental="SystemModstamp", include_deleted=True, lag=0)


class StepClock:
    """A clock that jumps to each slot at once, making a change in the org at every jump."""

    def __init__(self, conn: sfarrow.Connection, slots: int) -> None:
        self.conn = conn
        self.t = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
        self.left = slots
        self.changed: list[str] = []

    def now(self) -> dt.datetime:
        return self.t

    def wait_until(self, when: dt.datetime, stop: threading.Event) -> bool:
        if self.left == 0:
            return False
        self.left -= 1
        name = f"slot {len(self.changed)}"
        self.conn.insert("Account", [{"Name": name}])
        next_org_second(self.conn)  # the next run's window ends at the org's clock, to the second
        self.changed.append(name)
        self.t = max(self.t, when)
        return True


def test_a_scheduled_flow_runs_each_slot_incrementally(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 5}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        dest = destination("sqlite", tmp_path)
        clock = StepClock(conn, 3)
        flow = sfarrow.Flow(incremental(conn), dest, trigger=sfarrow.Schedule("rate(1 hour)"), progress=False)
        assert flow.serve(clock=clock) == 4, "a run at once, then one per slot"
        reads = [r.getMessage() for r in caplog.records if "sfarrow flow" in r.getMessage()]
        assert [int(m.split("read ")[1].split(",")[0]) for m in reads] == [5, 1, 1, 1], reads
        assert sorted(r[1] for r in table_rows(dest) if r[1].startswith("slot")) == clock.changed
        assert flow.last_run() is not None


def test_platform_events_start_runs_and_those_during_a_run_coalesce(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 3}, pubsub_keepalive=0.2) as org:
        org.define_event("Export__e", [{"name": "Reason__c", "type": "string", "length": 80}])
        conn = connect(org)
        dest = destination("sqlite", tmp_path)
        flow = sfarrow.Flow(incremental(conn), dest, trigger=sfarrow.OnEvents("/event/Export__e"), progress=False)

        def runs() -> int:
            return sum(1 for r in caplog.records if "sfarrow flow" in r.getMessage())

        with served(flow):
            wait_until(lambda: runs() == 1, what="the run at start")
            conn.insert("Account", [{"Name": "exported"}])
            next_org_second(conn)
            published = conn.publish("/event/Export__e", [{"Reason__c": f"r{i}"} for i in range(5)])
            assert all(published["success"].to_pylist())
            wait_until(lambda: runs() == 2, what="one run for five events published together")
            wait_equal(conn, dest)
        assert runs() == 2, "the five events made one run"


def test_serve_async_leaves_the_event_loop_free_and_stops_when_cancelled(tmp_path):
    with Org(seed={"Account": 4}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination("delta", tmp_path)
        flow = sfarrow.Flow(sfarrow.ChangeEventSource(conn, "Account", lag=0, batch_age=0.1), dest, progress=False)

        async def main() -> int:
            task = asyncio.create_task(flow.serve_async())
            ticks = 0
            await conn.insert_async("Account", [{"Name": "async"}])
            deadline = asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline:
                ticks += 1  # the loop runs while the flow serves
                try:
                    if len(table_rows(dest)) == 5:
                        break
                except Exception:
                    pass
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return ticks

        assert asyncio.run(main()) > 1
        assert len(table_rows(dest)) == 5


def _flow_file(tmp_path, org: Org) -> str:
    path = tmp_path / "accounts.toml"
    path.write_text(
        f"""
[connection]
instance_url = "{org.url}"
access_token = "{org.access_token}"

[source]
object = "Account"
fields = {FIELDS!r}
incremental = "SystemModstamp"
lag = 0
api = "rest"

[destination]
kind = "database"
uri = "sqlite:///{tmp_path}/db.sqlite"
table = "account"
mode = "merge"

[flow]
progress = false

[trigger]
schedule = "rate(1 hour)"
"""
    )
    return str(path)


@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_lets_the_run_commit_and_a_second_one_aborts_it(tmp_path, signals):
    with Org(seed={"Account": 2500}, https=False) as org:
        path = _flow_file(tmp_path, org)
        # The first run's second page is held 3 s: the signals arrive while it reads.
        org.inject_fault("delay", nth=1, path="/query/", delay=3.0)
        log = open(tmp_path / "serve.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sfarrow.cli", "serve", path], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        wait_until(lambda: any(r["path"].endswith("/query") for r in org.requests()), timeout=60, what="the run's first page")
        for n in range(signals):
            proc.send_signal(signal.SIGTERM)
            # Signals of one kind do not queue: the next is sent once this one was taken.
            wait_until(lambda n=n: (tmp_path / "serve.log").read_text().count("SIGTERM") > n or proc.poll() is not None, timeout=30, what="the signal taken")
        code = proc.wait(timeout=60)
        log.close()
        text = (tmp_path / "serve.log").read_text()
        status = subprocess.run([sys.executable, "-m", "sfarrow.cli", "status", path], capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        if signals == 1:
            assert code == 0, text
            assert "read 2500" in text, "the run went on to its commit"
            assert '"watermark": "2' in status.stdout
        else:
            assert code != 0 and "second SIGTERM" in text, text
            assert "read 2500" not in text
            assert '"watermark": null' in status.stdout, "nothing was committed"
