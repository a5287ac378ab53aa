"""Exactly once on Snowflake, against a stand-in that behaves as Snowflake does on the two points
the promise rests on (``snowflake_fake``): unquoted names are stored upper-case, and DDL commits
the open transaction. Incremental merge flows from the emulator find their watermark again,
a run that fails anywhere leaves the table and the watermark as they were, overwrite is
atomic, and a run whose starting watermark moved rolls back."""

from __future__ import annotations

import json
import os
import sys

import pyarrow as pa
import pytest

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.testing import Org

sys.path.insert(0, os.path.dirname(__file__))
from snowflake_fake import FakeSnowflake, fold
from waits import next_org_second

FIELDS = ["Id", "Name", "NumberOfEmployees"]


def test_the_fake_folds_as_snowflake_does():
    assert fold("create table if not exists sfarrow_x (flow text) -- 'a'") == "CREATE TABLE IF NOT EXISTS SFARROW_X (FLOW TEXT) -- 'a'"
    assert fold("select \"Name\" from t where n = 'it''s'") == "SELECT \"Name\" FROM T WHERE N = 'it''s'"
    fake = FakeSnowflake()
    fake.execute("CREATE TABLE t (x INTEGER)")
    fake.execute("INSERT INTO t VALUES (1)")
    fake.execute("CREATE TABLE u (y INTEGER)")  # commits the insert, as Snowflake does
    fake.rollback()
    assert fake.query("SELECT COUNT(*) FROM t") == [(1,)]
    assert fake.query("SELECT table_name FROM information_schema.tables ORDER BY 1") == [("T",), ("U",)]


@pytest.fixture
def accounts():
    with Org(seed={"Account": 40}, https=False) as org:
        yield org, sfarrow.Connection(org.url, org.access_token)


def source(conn: sfarrow.Connection) -> s.SalesforceSource:
    return s.SalesforceSource(conn, "Account", fields=FIELDS, incremental="SystemModstamp", include_deleted=True, lag=0)


def table(fake: FakeSnowflake) -> list[tuple]:
    return sorted(fake.query('SELECT "Id", "Name", "NumberOfEmployees" FROM "ACCOUNTS"'))


def org_rows(conn: sfarrow.Connection) -> list[tuple]:
    return sorted(tuple(r[f] for f in FIELDS) for r in conn.query(f"SELECT {', '.join(FIELDS)} FROM Account").to_pylist())


def test_an_incremental_merge_finds_its_watermark_again(accounts):
    org, conn = accounts
    fake = FakeSnowflake()
    flow = sfarrow.Flow(source(conn), d.DatabaseDestination(fake, "ACCOUNTS", mode="merge"), progress=False)
    first = flow.run()
    assert first.records_read == 40 and table(fake) == org_rows(conn)
    ids = conn.query("SELECT Id FROM Account ORDER BY Id LIMIT 3")["Id"].to_pylist()
    conn.update("Account", [{"Id": i, "Name": f"renamed {i}"} for i in ids[:2]])
    conn.delete("Account", ids[2:])
    next_org_second(conn)
    second = flow.run()
    assert second.since == first.watermark, "the saved watermark is found"
    assert second.records_read == 3, "only what changed is read"
    assert table(fake) == org_rows(conn)
    saved = fake.query('SELECT flow, target, state FROM "sfarrow_state"')
    assert [(f, t) for f, t, _ in saved] == [("Account", "ACCOUNTS")]
    assert json.loads(saved[0][2])["watermark"] == second.watermark


@pytest.mark.parametrize("killed_at", ["adbc_ingest", "MERGE INTO", 'DELETE FROM "sfarrow_state"', 'INSERT INTO "sfarrow_state"'])
def test_a_run_that_fails_anywhere_leaves_table_and_watermark_as_they_were(accounts, killed_at):
    org, conn = accounts
    fake = FakeSnowflake()
    flow = sfarrow.Flow(source(conn), d.DatabaseDestination(fake, "ACCOUNTS", mode="merge"), progress=False)
    first = flow.run()
    before = table(fake)
    ids = conn.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["Id"].to_pylist()
    conn.update("Account", [{"Id": ids[0], "Name": "changed"}])
    conn.delete("Account", ids[1:])
    next_org_second(conn)
    fake.fail_at = killed_at
    with pytest.raises(sfarrow.SalesforceError):
        flow.run()
    assert table(fake) == before, f"a run killed at {killed_at} changed the table"
    fake.fail_at = None
    again = flow.run()
    assert again.since == first.watermark and again.records_read == 2
    assert table(fake) == org_rows(conn)


def test_overwrite_is_atomic():
    fake = FakeSnowflake()
    dest = d.DatabaseDestination(fake, "ACCOUNTS", mode="overwrite")
    old = pa.table({"Id": ["001A", "001B"], "Name": ["a", "b"], "NumberOfEmployees": pa.array([1, 2], pa.int32())})
    sfarrow.Flow(s.ArrowSource(old), dest, progress=False).run()
    new = pa.table({"Id": ["001C"], "Name": ["c"], "NumberOfEmployees": pa.array([3], pa.int32())})
    fake.fail_at = 'INSERT INTO "ACCOUNTS"'
    with pytest.raises(sfarrow.DestinationError):
        sfarrow.Flow(s.ArrowSource(new), dest, progress=False).run()
    assert table(fake) == [("001A", "a", 1), ("001B", "b", 2)]
    fake.fail_at = None
    sfarrow.Flow(s.ArrowSource(new), dest, progress=False).run()
    assert table(fake) == [("001C", "c", 3)]


def test_a_watermark_moved_by_another_run_rolls_back():
    fake = FakeSnowflake()
    dest = d.DatabaseDestination(fake, "ACCOUNTS", mode="merge")
    rows = pa.table({"Id": ["001A"], "Name": ["a"], "NumberOfEmployees": pa.array([1], pa.int32())})
    start = d.Run("k", flow="accounts", since=None, watermark="2026-01-01T00:00:00.000Z", state={"watermark": "2026-01-01T00:00:00.000Z"})
    dest.deliver(rows.schema, iter(rows.to_batches()), start)
    # Another run committed 2026-01-02 meanwhile; this one started from 2026-01-01.
    moved = d.Run("k", flow="accounts", since="2026-01-01T00:00:00.000Z", watermark="2026-01-02T00:00:00.000Z", state={"watermark": "2026-01-02T00:00:00.000Z"})
    dest.deliver(rows.schema, iter(rows.to_batches()), moved)
    late = d.Run("k", flow="accounts", since="2026-01-01T00:00:00.000Z", watermark="2026-01-03T00:00:00.000Z", state={"watermark": "2026-01-03T00:00:00.000Z"})
    changed = pa.table({"Id": ["001A"], "Name": ["late"], "NumberOfEmployees": pa.array([9], pa.int32())})
    with pytest.raises(sfarrow.ConfigurationError, match="another run"):
        dest.deliver(changed.schema, iter(changed.to_batches()), late)
    assert table(fake) == [("001A", "a", 1)]
    assert dest.load_state("accounts")["watermark"] == "2026-01-02T00:00:00.000Z"


def test_change_events_apply_on_snowflake_with_the_replay_id_in_the_transaction(tmp_path, caplog):
    import logging

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sync"))
    from sync_helpers import applied, connect, served, soap_undelete, swept
    from waits import wait_until

    caplog.set_level(logging.INFO, logger="sfarrow.sync")

    with Org(seed={"Account": 20}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        fake = FakeSnowflake()  # one connection: the test reads it only once the flow has stopped
        dest = d.DatabaseDestination(fake, "ACCOUNTS", mode="merge")
        flow = sfarrow.Flow(sfarrow.ChangeEventSource(conn, "Account", fields=FIELDS, lag=0, batch_age=0.1), dest, progress=False)
        with served(flow):
            wait_until(lambda: swept(caplog), what="the first sweep")
            ids = conn.insert("Account", [{"Name": f"s{i}", "NumberOfEmployees": i} for i in range(6)])["id"].to_pylist()
            conn.update("Account", [{"Id": i, "NumberOfEmployees": None} for i in ids[:2]])
            conn.delete("Account", ids[2:4])
            soap_undelete(org, ids[3:4])
            # 6 creates, 1 update of two records, 1 delete of two, 1 undelete.
            wait_until(lambda: applied(caplog) >= 9, what="every event applied")
        assert table(fake) == org_rows(conn)
        state = json.loads(fake.query('SELECT state FROM "sfarrow_state"')[0][0])
        assert state["replay_id"] and state["replay_id"] == flow.status()["replay_id"]
