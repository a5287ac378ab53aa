"""Source and Destination are protocols: a user-written destination (and source) type-checks
against them and runs in flows, incremental and exactly once included."""

from __future__ import annotations

import json
import os
import sys

import pytest

import sfarrow
from sfarrow import sources as s
from sfarrow.testing import Org

sys.path.insert(0, os.path.dirname(__file__))
from user_destination import JsonTableDestination, ListSource
from waits import next_org_second


def test_the_user_written_classes_type_check():
    from mypy import api

    module = os.path.join(os.path.dirname(__file__), "user_destination.py")
    out, err, status = api.run(["--strict", "--ignore-missing-imports", "--no-incremental", module])
    assert status == 0, out + err


def test_a_user_written_destination_keeps_an_incremental_flow_exact(tmp_path):
    with Org(seed={"Account": 30}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        dest = JsonTableDestination(tmp_path / "table.json")
        source = s.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp", include_deleted=True, lag=0)
        flow = sfarrow.Flow(source, dest, state="accounts", progress=False)
        assert flow.state is None and flow.name == "accounts", "the destination keeps the state: no file"
        first = flow.run()
        assert first.records_read == 30
        ids = sorted(conn.query("SELECT Id FROM Account")["Id"].to_pylist())
        conn.update("Account", [{"Id": i, "Name": f"new {i}"} for i in ids[:3]])
        conn.delete("Account", ids[3:5])
        next_org_second(conn)
        second = flow.run()
        assert second.records_read == 5 and second.since == first.watermark
        saved = json.loads((tmp_path / "table.json").read_text())
        assert saved["states"]["accounts"]["watermark"] == second.watermark
        assert saved["states"]["accounts"]["source"] == source.shape()
        expected = {r["Id"]: r["Name"] for r in conn.query("SELECT Id, Name FROM Account").to_pylist()}
        assert {k: v["Name"] for k, v in saved["rows"].items()} == expected
        assert not list(tmp_path.glob("*state*")), "no state file beside it"
        # Another flow's state in the same destination is refused by this flow's shape.
        other = s.SalesforceSource(conn, "Account", fields=["Id"], incremental="SystemModstamp", where="Name != null", lag=0)
        with pytest.raises(sfarrow.ConfigurationError, match="belongs to another flow"):
            sfarrow.Flow(other, dest, state="accounts", progress=False).run()


def test_a_user_written_source_feeds_any_destination(tmp_path):
    rows = [{"Id": "a1", "Name": "One"}, {"Id": "a2", "Name": "Two"}]
    out = sfarrow.ArrowDestination()
    run = sfarrow.Flow(ListSource(rows), out, mapping={"Name": "name"}, progress=False).run()
    assert run.api == "list" and out.table is not None and out.table.to_pylist() == [{"name": "One"}, {"name": "Two"}]
    import asyncio

    dest = JsonTableDestination(tmp_path / "t.json")
    asyncio.run(sfarrow.Flow(ListSource(rows), dest, progress=False).run_async())
    assert sorted(json.loads((tmp_path / "t.json").read_text())["rows"]) == ["a1", "a2"]


def test_objects_that_are_not_sources_or_destinations_are_refused():
    with pytest.raises(sfarrow.ConfigurationError, match="is not a source"):
        sfarrow.Flow(object(), sfarrow.ArrowDestination())  # type: ignore[arg-type]
    with pytest.raises(sfarrow.ConfigurationError, match="is not a destination"):
        sfarrow.Flow(ListSource([]), object())  # type: ignore[arg-type]
