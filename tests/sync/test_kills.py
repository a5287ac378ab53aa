"""A served flow of change events, SIGKILLed at 10 random moments while a load of writes runs
(5,000 inserts, 2,000 updates, 500 deletes and 50 undeletes through REST, Collections,
composite and Bulk), and started again each time: at the end the table equals the org's
``SELECT`` row for row, and the committed batches' replay ids never overlap (no event applied
twice). Then SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from sync_helpers import FIELDS, connect, pg_database, soap_undelete, wait_equal
from waits import wait_until

import sfarrow
from sfarrow import destinations as d
from sfarrow.testing import Org

KILLS = 10
#: Rounds of the load: each inserts 100 records, updates 40, deletes 10 and undeletes 1.
ROUNDS = 50


class Load(threading.Thread):
    """``ROUNDS`` rounds of writes (or fewer, when stopped): inserts by REST, Collections and
    Bulk, updates by Collections and composite, deletes and undeletes."""

    def __init__(self, conn: sfarrow.Connection, org: Org) -> None:
        super().__init__(daemon=True)
        self.conn, self.org = conn, org
        self.halt = threading.Event()
        self.allowed = threading.Semaphore(0)
        self.permitted = 0
        self.rounds = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set() and self.rounds < ROUNDS:
                if not self.allowed.acquire(timeout=0.1):
                    continue
                self.round(self.rounds)
                self.rounds += 1
        except BaseException as e:
            self.error = e

    def round(self, n: int) -> None:
        c = self.conn
        ids = c.insert("Account", [{"Name": f"r{n} rest"}], api="rest")["id"].to_pylist()
        ids += c.insert("Account", [{"Name": f"r{n} collections {i}", "NumberOfEmployees": i} for i in range(49)], api="rest")["id"].to_pylist()
        ids += c.insert("Account", [{"Name": f"r{n} bulk {i}"} for i in range(50)], api="bulk")["id"].to_pylist()
        c.update("Account", [{"Id": i, "Industry": f"I{n}", "Description": None} for i in ids[:30]], api="rest")
        body = {
            "allOrNone": True,
            "compositeRequest": [
                {"method": "PATCH", "url": f"/services/data/v58.0/sobjects/Account/{i}", "referenceId": f"u{k}", "body": {"Name": f"r{n} composite {k}"}}
                for k, i in enumerate(ids[30:40])
            ],
        }
        c.request("POST", "composite", body)
        c.delete("Account", ids[90:100])
        soap_undelete(self.org, ids[90:91])

    def allow(self, upto: int) -> None:
        """Lets one more round run, unless one allowed is still to be written or ``upto``
        rounds were allowed."""
        if self.rounds >= self.permitted and self.permitted < min(upto, ROUNDS):
            self.permitted += 1
            self.allowed.release()

    def finish(self, timeout: float) -> None:
        """Waits for every round to be written."""
        self.join(timeout=timeout)
        if self.error is not None:
            raise self.error
        assert self.rounds == ROUNDS, f"the load wrote {self.rounds} of {ROUNDS} rounds in {timeout} s"

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=60)
        if self.error is not None:
            raise self.error


def flow_file(tmp_path, org: Org, target: str, kind: str) -> str:
    if kind == "delta":
        destination = f'kind = "delta"\nuri = "{target}"\nmode = "merge"'
    else:
        destination = f'kind = "database"\nuri = "{target}"\ntable = "account"\nmode = "merge"'
    path = tmp_path / "accounts.toml"
    path.write_text(
        f"""
[connection]
instance_url = "{org.url}"
access_token = "{org.access_token}"
pubsub_url = "{org.pubsub_url}"
ca_file = "{org.ca_file}"

[source]
object = "Account"
fields = {FIELDS!r}
lag = 0
batch_events = 40
batch_age = 0.1

[trigger]
events = "/data/AccountChangeEvent"

[destination]
{destination}
"""
    )
    return str(path)


def start(path: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sfarrow.cli", "serve", path], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def replay_ranges(text: str) -> list[tuple[int, int]]:
    import re

    return [(int(a, 16), int(b, 16)) for a, b in re.findall(r"replay ids ([0-9a-f]+) to ([0-9a-f]+)", text)]


@pytest.mark.parametrize("kind", ["postgres", "delta"])
def test_a_served_flow_killed_at_random_applies_every_change_once(kind, tmp_path, postgres_uri):
    rng = random.Random(20261208)
    target = str(tmp_path / "delta") if kind == "delta" else pg_database(postgres_uri, "sync_kills")
    with Org(seed={"Account": 100}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        path = flow_file(tmp_path, org, target, kind)
        logs = []
        load = Load(conn, org)
        load.start()
        try:
            for k in range(KILLS):
                log_path = tmp_path / f"serve-{k}.log"
                logs.append(log_path)
                with open(log_path, "w") as log:
                    proc = start(path, log)
                    # A random moment once the process is applying events: after a random number
                    # of its batches, and a random fraction of a second into the next. The
                    # writes go on meanwhile, a round each time the process shows progress
                    # (a sweep or a batch), so they never run far ahead of it.
                    batches = rng.randint(1, 4)
                    shown = [-1]

                    def at_work(p=proc, f=log_path, n=batches, shown=shown) -> bool:
                        text = f.read_text()
                        applied = text.count("applied")
                        if applied + text.count("swept") > shown[0]:
                            shown[0] = applied + text.count("swept")
                            load.allow(ROUNDS)
                        return applied >= n or p.poll() is not None

                    wait_until(at_work, timeout=90, what="the served flow at work")
                    assert proc.poll() is None, log_path.read_text()[-3000:]
                    time.sleep(rng.uniform(0.0, 0.3))  # the kill's moment is the test's random draw, not a wait for a condition
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=30)

            def written() -> bool:
                load.allow(ROUNDS)
                return load.rounds >= ROUNDS or not load.is_alive()

            wait_until(written, timeout=300, what="the rest of the writes")
            load.finish(timeout=60)
        finally:
            load.stop()
        log_path = tmp_path / "serve-last.log"
        logs.append(log_path)
        with open(log_path, "w") as log:
            proc = start(path, log)
            try:
                wait_until(lambda: "sfarrow sync" in log_path.read_text() or proc.poll() is not None, timeout=60, what="the last served flow at work")
                dest = d.DeltaDestination(target, mode="merge") if kind == "delta" else d.DatabaseDestination(target, "account", mode="merge")
                rows = wait_equal(conn, dest, timeout=90)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=60)
        text = log_path.read_text()
        assert code == 0, text[-3000:]
        assert "SIGTERM received" in text
        assert len(rows) == 100 + ROUNDS * (100 - 10 + 1)
        # The committed batches, in the order they were committed across every process: each
        # starts after the last one ended.
        ranges = [r for p in logs for r in replay_ranges(p.read_text())]
        assert ranges, "events were applied"
        for (_, end), (begin, _) in zip(ranges, ranges[1:], strict=False):
            assert begin > end, f"an event applied twice: a batch from {begin:x} after one up to {end:x}"
