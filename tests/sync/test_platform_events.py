"""Platform events into a table and into files, each event once: across a restart, a kill
between a file destination's publish and its state file, and batches that fill or age."""

from __future__ import annotations

import logging

import pyarrow.dataset as ds
import pytest
from sync_helpers import connect, served
from waits import wait_until

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.testing import Org

FIELDS = [{"name": "Sku__c", "type": "string", "length": 40}, {"name": "Qty__c", "type": "double"}]


def publish(conn: sfarrow.Connection, first: int, n: int) -> None:
    result = conn.publish("/event/Order__e", [{"Sku__c": f"sku-{i}", "Qty__c": float(i)} for i in range(first, first + n)])
    assert all(result["success"].to_pylist())


def skus_in_table(dest) -> list[str]:
    out = d.ArrowDestination()
    sfarrow.Flow(s.DatabaseSource(dest.uri, 'SELECT * FROM "orders"'), out, progress=False).run()
    assert out.table is not None
    return sorted(out.table["Sku__c"].to_pylist())


def expected(n: int) -> list[str]:
    return sorted(f"sku-{i}" for i in range(n))


def test_platform_events_reach_a_table_once_across_a_restart(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sfarrow.sync")
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", FIELDS)
        conn = connect(org)
        publish(conn, 0, 30)  # before the flow ever ran: "earliest" delivers them
        dest = d.DatabaseDestination(f"sqlite:///{tmp_path}/db.sqlite", "orders")
        flow = sfarrow.Flow(sfarrow.PlatformEventSource(conn, "/event/Order__e", batch_age=0.1), dest, progress=False)
        with served(flow):
            publish(conn, 30, 20)
            wait_until(lambda: _count(dest) == 50, what="fifty events in the table")
        publish(conn, 50, 25)  # while nothing serves the flow
        with served(flow):
            wait_until(lambda: _count(dest) == 75, what="the events published while down")
        assert skus_in_table(dest) == expected(75), "each event once"
        assert flow.status()["replay_id"] is not None


def _count(dest) -> int:
    try:
        return len(skus_in_table(dest))
    except Exception:
        return 0


def test_platform_events_into_files_are_replaced_not_repeated_after_a_crash(tmp_path):
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", FIELDS)
        conn = connect(org)
        out = tmp_path / "orders"
        state = tmp_path / "orders.state.json"
        flow = sfarrow.Flow(sfarrow.PlatformEventSource(conn, "/event/Order__e", batch_age=0.1), sfarrow.ParquetDestination(out), state=state, progress=False)
        publish(conn, 0, 10)
        with served(flow):
            wait_until(lambda: state.exists(), what="the first batch's state")
        saved = state.read_text()
        publish(conn, 10, 10)
        with served(flow):
            wait_until(lambda: state.read_text() != saved, what="the second batch")
        # A crash after the second batch's files were published, before its state was saved:
        # the batch is delivered again under the same name, replacing its files.
        state.write_text(saved)
        with served(flow):
            wait_until(lambda: state.read_text() != saved, what="the second batch again")
        table = ds.dataset(str(out), format="parquet").to_table()
        assert sorted(table["Sku__c"].to_pylist()) == expected(20)


def test_platform_event_flows_refuse_what_cannot_be_exactly_once(tmp_path):
    with Org(pubsub_keepalive=0.2) as org:
        conn = connect(org)
        with pytest.raises(sfarrow.ConfigurationError, match="state= file"):
            sfarrow.Flow(sfarrow.PlatformEventSource(conn, "/event/Order__e"), sfarrow.ParquetDestination(tmp_path), progress=False)
        with pytest.raises(sfarrow.ConfigurationError, match="ChangeEventSource"):
            sfarrow.PlatformEventSource(conn, "/data/AccountChangeEvent")
        flow = sfarrow.Flow(
            sfarrow.PlatformEventSource(conn, "/event/Order__e"), sfarrow.ParquetDestination(tmp_path), state=tmp_path / "s.json", progress=False
        )
        with pytest.raises(sfarrow.ConfigurationError, match="flow.serve"):
            flow.run()
