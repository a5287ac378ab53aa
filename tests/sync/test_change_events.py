"""Change events applied to a table (``ChangeEventSource`` served by ``flow.serve()``): after
every kind of write, a restart, a gap, an overflow, a replay id past retention and a lost event,
the table equals the org's ``SELECT`` row for row."""

from __future__ import annotations

import asyncio
import logging
import os

import pyarrow as pa
import pytest
from sync_helpers import applied, connect, destination, served, soap_undelete, swept, table_rows, wait_equal
from waits import next_org_second, wait_until

import sfarrow
from sfarrow.testing import Org


def flow_of(conn: sfarrow.Connection, dest, **options) -> sfarrow.Flow:
    options.setdefault("batch_age", 0.2)
    return sfarrow.Flow(sfarrow.ChangeEventSource(conn, "Account", lag=0, **options), dest, progress=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "delta", "duckdb"])
def test_every_kind_of_write_reaches_the_table(kind, tmp_path, postgres_uri):
    with Org(seed={"Account": 30}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination(kind, tmp_path, postgres_uri)
        with served(flow_of(conn, dest)):
            # No wait for the subscription: a write before it is live is in the first sweep.
            created = conn.insert("Account", [{"Name": f"new {i}", "NumberOfEmployees": i} for i in range(40)], api="rest")["id"].to_pylist()
            bulk = conn.insert("Account", [{"Name": f"bulk {i}"} for i in range(25)], api="bulk")["id"].to_pylist()
            conn.update("Account", [{"Id": i, "Industry": "Energy"} for i in created[:10]])  # one event for ten records
            conn.update("Account", [{"Id": i, "Description": None, "Name": f"renamed {i}"} for i in created[10:15]])
            conn.update("Account", [{"Id": i, "BillingCity": "Lyon"} for i in bulk[:3]])  # a compound field's part
            conn.delete("Account", created[20:30])
            soap_undelete(org, created[20:23])
            for i in bulk[5:8]:  # one record, several events in one micro-batch, in order
                conn.update("Account", [{"Id": i, "NumberOfEmployees": 1}])
                conn.update("Account", [{"Id": i, "NumberOfEmployees": 2, "Industry": "Retail"}])
                conn.update("Account", [{"Id": i, "Industry": None}])
            rows = wait_equal(conn, dest)
        assert len(rows) == 30 + 40 + 25 - 10 + 3


def test_a_restart_resumes_right_after_the_last_applied_event(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 10}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination("sqlite", tmp_path)
        with served(flow_of(conn, dest)):
            wait_until(lambda: swept(caplog), what="the first sweep")
            ids = conn.insert("Account", [{"Name": f"a {i}"} for i in range(5)], api="rest")["id"].to_pylist()
            wait_until(lambda: applied(caplog) == 5, what="the five events applied")
            wait_equal(conn, dest)
        saved = flow_of(conn, dest).status()
        assert saved["replay_id"] is not None and saved["watermark"] is not None

        # While nothing serves the flow: three more changes.
        conn.update("Account", [{"Id": ids[0], "Name": "while down"}])
        conn.delete("Account", ids[1:2])
        conn.insert("Account", [{"Name": "born while down"}])
        caplog.clear()
        with served(flow_of(conn, dest)):
            wait_equal(conn, dest)
        assert applied(caplog) == 3, "exactly the three events after the committed replay id, none again"
        assert not [r for r in caplog.records if "swept" in r.getMessage()], "a resume needs no sweep"


def test_gaps_and_an_overflow_are_read_again_from_the_org(tmp_path):
    with Org(seed={"Account": 10}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination("sqlite", tmp_path)
        ids = conn.query("SELECT Id FROM Account")["Id"].to_pylist()
        with served(flow_of(conn, dest)):
            wait_equal(conn, dest)
            # Changes the bus lost, then the gap events an org publishes for them.
            org.lose_change_events(2)
            conn.update("Account", [{"Id": ids[0], "Name": "gap update"}])
            conn.delete("Account", ids[1:2])
            org.publish_gap("Account", "GAP_UPDATE", ids[:1])
            org.publish_gap("Account", "GAP_DELETE", ids[1:2])
            wait_equal(conn, dest)
            # Past the overflow threshold a transaction's further changes are one GAP_OVERFLOW.
            org.set_overflow_threshold(2)
            conn.update("Account", [{"Id": i, "Name": f"overflow {n}"} for n, i in enumerate(ids[2:9])], api="rest")
            wait_equal(conn, dest)
        assert ("gap update",) in {(r[1],) for r in table_rows(dest)}


def test_a_replay_id_past_retention_falls_back_to_a_sweep(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 10}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination("delta", tmp_path)
        with served(flow_of(conn, dest)):
            wait_until(lambda: swept(caplog), what="the first sweep")
            ids = conn.insert("Account", [{"Name": "one"}, {"Name": "two"}])["id"].to_pylist()
            wait_until(lambda: applied(caplog) == 2, what="the two events applied")
        conn.update("Account", [{"Id": ids[0], "Name": "changed while down"}])
        conn.delete("Account", ids[1:])
        org.expire_events()  # the saved replay id is gone from the bus, with these changes' events
        caplog.clear()
        with served(flow_of(conn, dest)):
            wait_equal(conn, dest)
            conn.insert("Account", [{"Name": "after the sweep"}])  # and events flow again
            wait_equal(conn, dest)
        messages = [r.getMessage() for r in caplog.records]
        assert any("no longer keeps replay id" in m for m in messages), messages
        assert any("swept" in m for m in messages), messages


def test_a_lost_event_is_repaired_by_the_next_reconciliation(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 10}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination("sqlite", tmp_path)
        ids = conn.query("SELECT Id FROM Account")["Id"].to_pylist()
        with served(flow_of(conn, dest, reconcile_every="2s")):
            wait_equal(conn, dest)
            org.lose_change_events(1)
            conn.update("Account", [{"Id": ids[3], "Name": "never announced"}])
            wait_equal(conn, dest)
        sweeps = [r.getMessage() for r in caplog.records if "swept" in r.getMessage()]
        assert len(sweeps) >= 2, "the first sweep, then at least one reconciliation"


def test_changes_during_the_first_full_read_are_neither_lost_nor_undone(tmp_path):
    with Org(seed={"Account": 2500}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        ids = conn.query("SELECT Id FROM Account ORDER BY Id")["Id"].to_pylist()
        dest = destination("sqlite", tmp_path)
        # The full read's second page is held 2 s: the writes below land while it reads, to
        # records of the page already read and of the page still to come.
        # (A sweep reads deleted records too: queryAll.)
        org.inject_fault("delay", nth=1, path="/queryAll/", delay=2.0)
        with served(flow_of(conn, dest, api="rest")):
            wait_until(lambda: any(r["path"].endswith("/queryAll") for r in org.requests()), what="the full read's first page")
            conn.update("Account", [{"Id": i, "Name": f"during {i}"} for i in ids[::7]])
            conn.delete("Account", ids[1:5])
            created = conn.insert("Account", [{"Name": "during the read"}])["id"].to_pylist()
            rows = wait_equal(conn, dest)
        names = {r[0]: r[1] for r in rows}
        assert all(names[i] == f"during {i}" for i in ids[::7] if i in names)
        assert created[0] in names and not set(ids[1:5]) & set(names)


def test_a_flow_of_change_events_refuses_what_it_cannot_do(tmp_path):
    with Org(seed={"Account": 1}, pubsub_keepalive=0.2) as org:
        conn = connect(org)
        source = sfarrow.ChangeEventSource(conn, "Account")
        assert source.topic == "/data/AccountChangeEvent"
        assert sfarrow.ChangeEventSource(conn, "Invoice__c").topic == "/data/Invoice__ChangeEvent"
        with pytest.raises(sfarrow.ConfigurationError, match="table that keeps the flow's state"):
            sfarrow.Flow(source, sfarrow.ParquetDestination(tmp_path), progress=False)
        with pytest.raises(sfarrow.ConfigurationError, match="mapping"):
            sfarrow.Flow(source, destination("sqlite", tmp_path), mapping={"Name": "name"}, progress=False)
        with pytest.raises(sfarrow.ConfigurationError, match="duration"):
            sfarrow.ChangeEventSource(conn, "Account", reconcile_every="soon")
        append = sfarrow.DatabaseDestination(f"sqlite:///{tmp_path}/x.db", "t")
        with pytest.raises(sfarrow.ConfigurationError, match="mode='merge'"):
            sfarrow.Flow(source, append, progress=False).serve()

        # Account is not selected for change data capture: serving it would wait forever (a
        # deadline, so that a regression fails rather than hangs).
        def serve_briefly() -> None:
            flow = sfarrow.Flow(source, destination("sqlite", tmp_path), progress=False)
            asyncio.run(asyncio.wait_for(flow.serve_async(), 30))

        with pytest.raises(sfarrow.ConfigurationError, match="no change events for Account: select it for change data capture"):
            serve_briefly()
        org.select_change_events(["Contact"])
        with pytest.raises(sfarrow.ConfigurationError, match="no change events for Account"):
            serve_briefly()


def test_the_tooling_api_lists_the_entities_selected_for_change_data_capture():
    with Org(seed={"Account": 1}) as org:
        conn = connect(org)
        members = "tooling/query?q=SELECT+Id,+SelectedEntity,+EventChannel+FROM+PlatformEventChannelMember"
        assert conn.request("GET", members)["records"] == []
        org.define_object("Invoice__c", [{"name": "Amount__c", "type": "currency", "precision": 18, "scale": 2}])
        org.select_change_events(["Account", "Invoice__c"])
        answer = conn.request("GET", members)
        assert answer["totalSize"] == 2 and answer["done"] is True
        assert sorted(r["SelectedEntity"] for r in answer["records"]) == ["AccountChangeEvent", "Invoice__ChangeEvent"]
        assert {r["EventChannel"] for r in answer["records"]} == {"ChangeEvents"}
        assert all(r["attributes"]["type"] == "PlatformEventChannelMember" and len(r["Id"]) == 18 for r in answer["records"])
        with pytest.raises(sfarrow.ApiError, match="INVALID_TYPE"):
            conn.request("GET", "tooling/query?q=SELECT+Id+FROM+ApexClass")
        with pytest.raises(sfarrow.ApiError, match="INVALID_FIELD"):
            conn.request("GET", "tooling/query?q=SELECT+Nope+FROM+PlatformEventChannelMember")


def test_a_delta_table_served_for_many_commits_is_compacted_checkpointed_and_vacuumed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 10}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = sfarrow.DeltaDestination(str(tmp_path / "delta"), mode="merge", maintain_after=4, vacuum_retention="1s")
        with served(flow_of(conn, dest, batch_age=0.05)):
            wait_until(lambda: swept(caplog), what="the first sweep")
            for i in range(12):  # a batch each, most likely: the flow commits after each write
                conn.insert("Account", [{"Name": f"commit {i}"}])
                wait_until(lambda i=i: applied(caplog) >= i + 1, what=f"write {i} applied")
            wait_equal(conn, dest)
        assert any("compacted" in r.getMessage() for r in caplog.records)
        import deltalake

        table = deltalake.DeltaTable(str(tmp_path / "delta"))
        assert "OPTIMIZE" in [h.get("operation") for h in table.history()]
        assert list((tmp_path / "delta" / "_delta_log").glob("*.checkpoint.parquet")), "a checkpoint was written"
        dest.maintain()  # once more, with nothing committed after it
        table = deltalake.DeltaTable(str(tmp_path / "delta"))
        live = {os.path.basename(u) for u in table.file_uris()}
        on_disk = {p.name for p in (tmp_path / "delta").glob("*.parquet")}
        assert len(live) == 1, "compacted into one file"
        assert on_disk == live, "vacuumed: no file left that no version needs"
        assert len(table_rows(dest)) == 22
        assert flow_of(conn, dest).status()["replay_id"] is not None, "the replay id survives compaction"


def test_a_batch_that_changes_no_row_still_moves_the_replay_id(tmp_path, caplog):
    # Events older than the rows a sweep wrote change nothing; the replay id must move anyway
    # (delta-rs makes no commit for a merge that changes nothing), or the next batch is refused.
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(seed={"Account": 3}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        dest = destination("delta", tmp_path)
        ids = conn.query("SELECT Id FROM Account")["Id"].to_pylist()
        with served(flow_of(conn, dest)):
            wait_until(lambda: swept(caplog), what="the first sweep")
            conn.update("Account", [{"Id": ids[0], "Name": "first"}])
            wait_until(lambda: applied(caplog) == 1, what="the first update applied")
            next_org_second(conn)  # the second update is a second later
            conn.update("Account", [{"Id": ids[0], "Name": "second"}])
            wait_until(lambda: applied(caplog) == 2, what="the second update applied")
        last = flow_of(conn, dest).status()["replay_id"]
        # The same flow state, replayed from the earliest event: every event is older than its row.
        import threading

        from sfarrow.sync.replica import EventSync

        flow = flow_of(conn, dest)
        stop = threading.Event()
        sync = EventSync(flow, stop)
        sync._prepare()
        record = flow._saved_state()
        sync.watermark, sync.replay_id = record["watermark"], record["replay_id"]
        sync.subscription.start("earliest")
        got: list = []
        wait_until(lambda: got.append(sync.subscription.get(0.2)) or sum(b.num_rows for b in got if b is not None) >= 2, what="the replayed events")
        batch = pa.Table.from_batches([b for b in got if b is not None]).combine_chunks().to_batches()[0]
        sync.apply(sync.folder.fold(batch.slice(0, 1)))  # the first update alone: older than the row
        assert flow.status()["replay_id"] == sync.replay_id != last, "the state moved"
        sync.apply(sync.folder.fold(batch.slice(1)))  # and the next batch is not refused
        sync.close()
        assert flow.status()["replay_id"] == last
        wait_equal(conn, dest)
