"""Flows: every source with every destination, org to org, incremental runs with changes and
deletions, and runs that die midway leaving nothing half-published."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from waits import next_org_second

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.testing import Org

FIELDS = ["Id", "Name", "NumberOfEmployees", "AnnualRevenue"]


@pytest.fixture(scope="module")
def org():
    with Org(seed={"Account": 120}, https=False) as o:
        yield o


@pytest.fixture(scope="module")
def conn(org):
    return sfarrow.Connection(org.url, org.access_token)


@pytest.fixture(scope="module")
def accounts(conn) -> pa.Table:
    return conn.query(f"SELECT {', '.join(FIELDS)} FROM Account").sort_by("Id")


def make_source(kind, conn, accounts, tmp_path):
    if kind == "salesforce":
        return s.SalesforceSource(conn, "Account", fields=FIELDS)
    if kind == "parquet":
        pq.write_table(accounts, tmp_path / "in.parquet")
        return s.FileSource(tmp_path / "in.parquet")
    if kind == "csv":
        pcsv.write_csv(accounts, tmp_path / "in.csv")
        return s.FileSource(tmp_path / "in.csv")
    return s.ArrowSource(accounts.to_pandas() if kind == "pandas" else accounts)


def read_back(destination, tmp_path):
    if isinstance(destination, d.ArrowDestination):
        return destination.table
    fmt = {"parquet": "parquet", "csv": "csv", "jsonl": "json"}[destination.format]
    return ds.dataset(destination.path, format=fmt).to_table()


@pytest.mark.parametrize("source_kind", ["salesforce", "parquet", "csv", "arrow", "pandas"])
@pytest.mark.parametrize("dest_kind", ["parquet", "csv", "jsonl", "arrow"])
def test_every_source_to_every_file_and_memory_destination(source_kind, dest_kind, conn, accounts, tmp_path):
    source = make_source(source_kind, conn, accounts, tmp_path)
    destination = {
        "parquet": lambda: d.ParquetDestination(tmp_path / "out", max_rows_per_file=50),
        "csv": lambda: d.CsvDestination(tmp_path / "out", max_rows_per_file=50),
        "jsonl": lambda: d.JsonLinesDestination(tmp_path / "out", max_rows_per_file=50),
        "arrow": d.ArrowDestination,
    }[dest_kind]()
    run = sfarrow.Flow(source, destination, mapping={"Id": "id", "Name": "name", "NumberOfEmployees": "employees"}, progress=False).run()
    assert (run.records_read, run.records_written, run.records_failed) == (120, 120, 0)
    if dest_kind != "arrow":
        assert len(run.paths) == 3, "120 rows at 50 a file"
        assert run.bytes == sum((tmp_path / "out" / p.rsplit("/", 1)[1]).stat().st_size for p in run.paths)
        assert not list((tmp_path / "out").glob(".sfarrow-staging-*"))
    got = read_back(destination, tmp_path).sort_by("id")
    assert got.column_names == ["id", "name", "employees"]
    assert got["id"].to_pylist() == accounts["Id"].to_pylist()
    assert got["name"].to_pylist() == accounts["Name"].to_pylist()
    assert got["employees"].to_pylist() == accounts["NumberOfEmployees"].to_pylist()
    assert run.api == {"salesforce": "rest", "parquet": "file", "csv": "file"}.get(source_kind, "memory")


@pytest.mark.parametrize("source_kind", ["salesforce", "parquet", "csv", "arrow"])
def test_every_source_to_salesforce_including_org_to_org(source_kind, conn, accounts, tmp_path):
    source = make_source(source_kind, conn, accounts, tmp_path)
    with Org(https=False) as target:
        target_conn = sfarrow.Connection(target.url, target.access_token)
        destination = d.SalesforceDestination(target_conn, "Account", operation="insert", chunk_rows=70)
        run = sfarrow.Flow(source, destination, mapping={"Name": "Name", "NumberOfEmployees": "NumberOfEmployees"}, progress=False).run()
        assert (run.records_read, run.records_written, run.records_failed) == (120, 120, 0)
        copied = target_conn.query("SELECT Name, NumberOfEmployees FROM Account").sort_by("Name")
        expected = accounts.select(["Name", "NumberOfEmployees"]).sort_by("Name")
        assert copied.num_rows == 120
        assert copied["Name"].to_pylist() == expected["Name"].to_pylist()
        assert copied["NumberOfEmployees"].to_pylist() == expected["NumberOfEmployees"].to_pylist()


def test_failed_records_go_where_the_user_says(conn, tmp_path):
    rows = pa.table({"Name": ["ok one", None, "ok two", None], "NumberOfEmployees": [1, 2, 3, 4]})
    with Org(https=False) as target:
        target_conn = sfarrow.Connection(target.url, target.access_token)
        failed = tmp_path / "failed" / "accounts.parquet"
        destination = d.SalesforceDestination(target_conn, "Account", on_error="continue", failed_records=failed)
        run = sfarrow.Flow(s.ArrowSource(rows), destination, progress=False).run()
        assert (run.records_written, run.records_failed, run.failed_records_path) == (2, 2, str(failed))
        bad = pq.read_table(failed)
        assert bad["NumberOfEmployees"].to_pylist() == [2, 4]
        assert set(bad["sf__error_code"].to_pylist()) == {"REQUIRED_FIELD_MISSING"}
        with pytest.raises(sfarrow.WriteError):
            sfarrow.Flow(s.ArrowSource(rows), d.SalesforceDestination(target_conn, "Account"), progress=False).run()


def test_no_mapping_reads_every_field_and_picks_up_new_ones(tmp_path):
    with Org(seed={"Account": 5}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        dest = d.ArrowDestination()
        flow = sfarrow.Flow(s.SalesforceSource(conn, "Account"), dest, mapping={"Description": None}, progress=False)
        flow.run()
        first = dest.table.column_names
        assert "Description" not in first and "Name" in first and "BillingAddress" in first
        org.define_field("Account", {"name": "Late__c", "type": "string", "length": 20})
        flow.run()
        assert dest.table.column_names == [*first, "Late__c"]


def test_incremental_reads_only_changes_and_deletions(tmp_path):
    with Org(seed={"Account": 200}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        source = s.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp", include_deleted=True, lag=0)
        out = tmp_path / "out"
        flow = sfarrow.Flow(source, d.ParquetDestination(out), state=tmp_path / "state.json", progress=False)
        first = flow.run()
        assert first.records_read == 200 and first.since is None and first.watermark
        assert json.loads((tmp_path / "state.json").read_text())["watermark"] == first.watermark

        middle = flow.run()
        assert middle.records_read == 0, "nothing changed"
        assert middle.since == first.watermark and middle.watermark >= first.watermark

        ids = conn.query("SELECT Id FROM Account ORDER BY Id")["Id"].to_pylist()
        conn.update("Account", [{"Id": i, "Name": f"changed {i}"} for i in ids[:10]])
        conn.delete("Account", ids[10:12])
        next_org_second(conn)  # the window ends at the org's clock, to the second
        second = flow.run()
        assert second.records_read == 12 and second.since == middle.watermark
        table = ds.dataset(out).to_table()
        delta = table.filter(pa.compute.is_in(table["Id"], pa.array(ids[:12])))
        assert delta.num_rows == 24, "each of the 12 records: once from the first run, once from the second"
        deleted = [r["Id"] for r in table.to_pylist() if r["IsDeleted"]]
        assert sorted(deleted) == sorted(ids[10:12])


def test_a_failed_run_publishes_nothing_and_keeps_the_watermark(tmp_path):
    with Org(seed={"Account": 300}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        state = tmp_path / "state.json"
        out = tmp_path / "out"

        def flow():
            source = s.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp", api="bulk")
            return sfarrow.Flow(source, d.ParquetDestination(out, max_rows_per_file=100), state=state, progress=False)

        org.inject_fault("503", path="/results", times=50)
        with pytest.raises(sfarrow.SalesforceError):
            flow().run()
        org.clear_faults()
        assert not state.exists()
        assert not [p for p in out.iterdir() if not p.name.startswith(".")]
        run = flow().run()
        assert run.records_read == 300
        assert sorted(ds.dataset(out).to_table()["Id"].to_pylist()) == sorted(conn.query("SELECT Id FROM Account")["Id"].to_pylist())


def test_a_killed_run_is_redone_exactly_once(tmp_path):
    """SIGKILL between publishing files and saving the watermark: the next run rewrites the
    same files instead of adding to them, so every record is delivered exactly once."""
    with Org(seed={"Account": 150}, https=False) as org:
        script = textwrap.dedent(
            f"""
            import os, sfarrow
            from sfarrow import flow as f
            conn = sfarrow.Connection({org.url!r}, {org.access_token!r})
            def die(*a, **k):
                os.kill(os.getpid(), 9)
            f.State.save = die
            source = sfarrow.SalesforceSource(conn, "Account", fields=["Id"], incremental="SystemModstamp")
            sfarrow.Flow(source, sfarrow.ParquetDestination({str(tmp_path / "out")!r}, max_rows_per_file=40),
                         state={str(tmp_path / "state.json")!r}, progress=False).run()
            """
        )
        killed = subprocess.run([sys.executable, "-c", script])
        assert killed.returncode == -9
        assert not (tmp_path / "state.json").exists()
        conn = sfarrow.Connection(org.url, org.access_token)
        source = s.SalesforceSource(conn, "Account", fields=["Id"], incremental="SystemModstamp")
        sfarrow.Flow(source, d.ParquetDestination(tmp_path / "out", max_rows_per_file=40), state=tmp_path / "state.json", progress=False).run()
        ids = ds.dataset(tmp_path / "out").to_table()["Id"].to_pylist()
        assert len(ids) == len(set(ids)) == 150


def test_bad_flows_fail_clearly(conn, tmp_path):
    with pytest.raises(sfarrow.ConfigurationError, match="incremental"):
        sfarrow.Flow(s.SalesforceSource(conn, "Account"), d.ArrowDestination(), state=tmp_path / "s.json")
    with pytest.raises(sfarrow.ConfigurationError, match="does not have"):
        sfarrow.Flow(s.SalesforceSource(conn, "Account", fields=["Id"]), d.ArrowDestination(), mapping={"Nope": "x"}, progress=False).run()
    with pytest.raises(sfarrow.ConfigurationError, match="external_id"):
        d.SalesforceDestination(conn, "Account", operation="upsert")


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl"])
def test_salesforce_to_s3(kind, s3, conn, accounts):
    from sfarrow._sfarrow import ObjectStore

    cls = {"parquet": d.ParquetDestination, "csv": d.CsvDestination, "jsonl": d.JsonLinesDestination}[kind]
    url = f"s3://lake/{kind}/accounts"
    run = sfarrow.Flow(
        s.SalesforceSource(conn, "Account", fields=FIELDS),
        cls(url, max_rows_per_file=100, storage_options=s3),
        progress=False,
    ).run()
    assert run.records_written == 120 and len(run.paths) == 2
    assert all(p.startswith(f"{url}/part-") for p in run.paths)
    store = ObjectStore("s3://lake", s3)
    listed = store.list(f"{kind}/accounts")
    assert sorted(f"s3://lake/{k}" for k, _ in listed) == sorted(run.paths), "no staging left behind"
    assert run.bytes == sum(n for _, n in listed)
    bodies = [store.get(p[len("s3://lake/") :]) for p in run.paths]
    if kind == "parquet":
        ids = [i for b in bodies for i in pq.read_table(pa.BufferReader(b))["Id"].to_pylist()]
    elif kind == "csv":
        ids = [i for b in bodies for i in pcsv.read_csv(pa.BufferReader(b))["Id"].to_pylist()]
    else:
        ids = [json.loads(line)["Id"] for b in bodies for line in b.decode().splitlines()]
    assert sorted(ids) == accounts["Id"].to_pylist()
    assert "secret" not in repr(store) and "testing" not in repr(store)


def test_a_failed_run_publishes_nothing_on_s3(s3):
    from sfarrow._sfarrow import ObjectStore

    def broken():
        for i in range(3):
            yield pa.record_batch([pa.array([i])], names=["a"])
        raise RuntimeError("the source died")

    dest = d.ParquetDestination("s3://lake/broken", max_rows_per_file=1, storage_options=s3)
    with pytest.raises(RuntimeError, match="source died"):
        dest.deliver(pa.schema([("a", pa.int64())]), broken(), d.Run("k"))
    assert ObjectStore("s3://lake", s3).list("broken") == []
    with pytest.raises(sfarrow.ConfigurationError, match="unknown S3 storage option"):
        d.ParquetDestination("s3://lake/x", storage_options={"nope": "1"}).deliver(pa.schema([]), iter([]), d.Run("k"))


def test_run_async(conn):
    import asyncio

    dest = d.ArrowDestination()
    run = asyncio.run(sfarrow.Flow(s.SalesforceSource(conn, "Account", fields=["Id"]), dest, progress=False).run_async())
    assert run.records_written == dest.table.num_rows == 120


def test_a_file_store_that_fails_is_a_destination_error(s3, tmp_path):
    rows = pa.table({"a": [1, 2]})
    missing = d.ParquetDestination("s3://no-such-bucket/x", storage_options=s3)
    with pytest.raises(sfarrow.DestinationError, match="s3 refused the run into s3://no-such-bucket/x"):
        sfarrow.Flow(s.ArrowSource(rows), missing, progress=False).run()
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(sfarrow.DestinationError, match="the file system refused"):
        sfarrow.Flow(s.ArrowSource(rows), d.CsvDestination(blocked / "out"), progress=False).run()
