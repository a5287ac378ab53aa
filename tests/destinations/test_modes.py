"""Every destination that applies changes, in every mode: a real PostgreSQL server, SQLite and
DuckDB files, Delta tables on local disk and on moto's S3. A merge gets updates, inserts and
deletions in one run; a failed run leaves the table as it was."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s

UTC = dt.timezone.utc
KINDS = ["postgres", "sqlite", "duckdb", "delta", "delta-s3"]


def rows(ids, names, deleted=None, employees=None, extra=None) -> pa.Table:
    n = len(ids)
    columns = {
        "Id": pa.array(ids, pa.string()),
        "Name": pa.array(names, pa.string()),
        "NumberOfEmployees": pa.array(employees or list(range(n)), pa.int32()),
        "AnnualRevenue": pa.array([decimal.Decimal("10.50")] * n, pa.decimal128(18, 2)),
        "LastModifiedDate": pa.array([dt.datetime(2026, 1, 1, 12, tzinfo=UTC)] * n, pa.timestamp("ms", "UTC")),
        "IsDeleted": pa.array(deleted or [False] * n, pa.bool_()),
    }
    if extra is not None:
        columns["Rating"] = pa.array(extra, pa.string())
    return pa.table(columns)


class Target:
    """A destination of one kind, and how to read its table back."""

    def __init__(self, kind: str, tmp_path, postgres_uri, s3) -> None:
        self.kind = kind
        self.tmp = tmp_path
        self.table = f"acct_{tmp_path.name[-20:].replace('-', '_').lower()}"
        self.pg = postgres_uri
        self.s3 = s3

    def uri(self) -> str:
        if self.kind == "postgres":
            return self.pg
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp}/db.sqlite"
        if self.kind == "duckdb":
            return f"duckdb:///{self.tmp}/db.duckdb"
        if self.kind == "delta":
            return str(self.tmp / "delta")
        return f"s3://lake/{self.table}"

    def destination(self, mode: str, **kw):
        if self.kind.startswith("delta"):
            options = delta_options(self.s3) if self.kind == "delta-s3" else None
            return d.DeltaDestination(self.uri(), mode=mode, storage_options=options, **kw)
        if self.kind == "duckdb":
            return d.DuckDBDestination(self.tmp / "db.duckdb", self.table, mode=mode, **kw)
        return d.DatabaseDestination(self.uri(), self.table, mode=mode, **kw)

    def source(self):
        if self.kind.startswith("delta"):
            return s.DeltaSource(self.uri(), storage_options=delta_options(self.s3) if self.kind == "delta-s3" else None)
        return s.DatabaseSource(self.uri(), f'SELECT * FROM "{self.table}"')

    def read(self) -> list[dict]:
        out = d.ArrowDestination()
        sfarrow.Flow(self.source(), out, progress=False).run()
        assert out.table is not None
        got = sorted(out.table.to_pylist(), key=lambda r: r["Id"])
        for r in got:
            # SQLite keeps booleans as 0/1: the documented mapping.
            if isinstance(r.get("IsDeleted"), int):
                r["IsDeleted"] = bool(r["IsDeleted"])
        return got


def delta_options(s3) -> dict:
    return {
        "AWS_ENDPOINT_URL": s3["aws_endpoint"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": s3["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": s3["aws_secret_access_key"],
        "AWS_REGION": s3["aws_region"],
    }


@pytest.fixture(params=KINDS)
def target(request, tmp_path, postgres_uri, s3):
    return Target(request.param, tmp_path, postgres_uri, s3)


def run(data: pa.Table, destination) -> sfarrow.FlowRun:
    return sfarrow.Flow(s.ArrowSource(data), destination, progress=False).run()


def brief(table: list[dict]) -> list[tuple]:
    return [(r["Id"], r["Name"], r["NumberOfEmployees"]) for r in table]


def test_append_adds_rows_and_overwrite_replaces_them(target):
    first = rows(["a1", "a2"], ["One", "Two"])
    assert run(first, target.destination("append")).records_written == 2
    run(rows(["a3"], ["Three"]), target.destination("append"))
    assert brief(target.read()) == [("a1", "One", 0), ("a2", "Two", 1), ("a3", "Three", 0)]
    run(rows(["b1"], ["Only"], employees=[7]), target.destination("overwrite"))
    assert brief(target.read()) == [("b1", "Only", 7)]


def test_merge_updates_inserts_and_deletes_in_one_run(target):
    run(rows(["a1", "a2", "a3", "a4"], ["One", "Two", "Three", "Four"]), target.destination("merge"))
    change = rows(["a1", "a3", "a5", "a6"], ["One v2", "gone", "Five", "never"], deleted=[False, True, False, True], employees=[10, 30, 50, 60])
    assert run(change, target.destination("merge")).records_written == 4
    got = target.read()
    assert brief(got) == [("a1", "One v2", 10), ("a2", "Two", 1), ("a4", "Four", 3), ("a5", "Five", 50)]
    assert all(r["IsDeleted"] is False for r in got)
    # A rerun of the same change (a crash before the watermark moved) changes nothing.
    run(change, target.destination("merge"))
    assert target.read() == got


def test_a_new_field_becomes_a_new_column(target):
    run(rows(["a1", "a2"], ["One", "Two"]), target.destination("merge"))
    run(rows(["a2", "a3"], ["Two v2", "Three"], extra=["Hot", None]), target.destination("merge"))
    got = target.read()
    assert [(r["Id"], r["Name"], r["Rating"]) for r in got] == [("a1", "One", None), ("a2", "Two v2", "Hot"), ("a3", "Three", None)]


def test_a_failed_run_leaves_the_table_as_it_was(target):
    run(rows(["a1", "a2"], ["One", "Two"]), target.destination("merge"))
    before = target.read()
    data = rows(["a1", "a9"], ["changed", "new"])

    def broken():
        yield data.to_batches()[0]
        raise RuntimeError("the source broke")

    for mode in ("merge", "overwrite", "append"):
        with pytest.raises(Exception, match="the source broke"):
            run(pa.RecordBatchReader.from_batches(data.schema, broken()), target.destination(mode))
        assert target.read() == before, mode


def test_merge_refuses_rows_it_cannot_match(target):
    with pytest.raises(sfarrow.ConfigurationError, match="'Id', which the run does not have"):
        run(rows(["a1"], ["x"]).drop_columns(["Id"]), target.destination("merge"))
    for first in (True, False):
        # Into a table that does not exist yet, then into one that does.
        with pytest.raises(sfarrow.ConfigurationError, match="more than once \\(a1\\)"):
            run(rows(["a1", "a1"], ["x", "y"]), target.destination("merge"))
        with pytest.raises(sfarrow.ConfigurationError, match="1 rows of the run have no Id"):
            run(rows([None, "a2"], ["x", "y"]), target.destination("merge"))
        if first:
            run(rows(["a0"], ["zero"]), target.destination("merge"))
    assert brief(target.read()) == [("a0", "zero", 0)]


def test_bad_settings_are_refused_up_front(tmp_path):
    with pytest.raises(sfarrow.ConfigurationError, match="mode must be"):
        d.DatabaseDestination("sqlite:///x.db", "t", mode="upsert")
    with pytest.raises(sfarrow.ConfigurationError, match="mode must be"):
        d.DeltaDestination(tmp_path, mode="upsert")
    with pytest.raises(sfarrow.ConfigurationError, match="cannot tell the database"):
        d.DatabaseDestination("mysql://u:secret@h/db", "t")
    with pytest.raises(sfarrow.ConfigurationError, match="table is"):
        d.DatabaseDestination("sqlite:///x.db", "a.b.c")
    with pytest.raises(sfarrow.ConfigurationError) as e:
        d.DatabaseDestination("mysql://user:hunter2@host/db", "t")
    assert "hunter2" not in str(e.value)
    assert "hunter2" not in repr(d.DatabaseDestination("postgresql://user:hunter2@127.0.0.1:1/db", "t"))
    assert "hunter2" not in repr(s.DatabaseSource("postgresql://user:hunter2@127.0.0.1:1/db", "SELECT 1"))


def test_an_unreachable_database_is_a_clear_error_without_the_password(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = d.DatabaseDestination(f"postgresql://user:hunter2@127.0.0.1:{port}/db", "t")
    with pytest.raises(sfarrow.ConfigurationError, match="cannot connect to postgresql://user:\\*\\*\\*@127.0.0.1") as e:
        run(rows(["a1"], ["x"]), dest)
    assert "hunter2" not in str(e.value)


def test_an_open_connection_is_used_and_left_open(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "own.duckdb"))
    run(rows(["a1"], ["One"]), d.DatabaseDestination(con, "acct", mode="merge"))
    run(rows(["a1", "a2"], ["One v2", "Two"]), d.DatabaseDestination(con, "acct", mode="merge"))
    assert con.execute('SELECT "Id", "Name" FROM acct ORDER BY 1').fetchall() == [("a1", "One v2"), ("a2", "Two")]


@pytest.mark.parametrize("kind", ["postgres", "duckdb", "delta"])
def test_a_store_that_refuses_the_run_is_a_destination_error_and_commits_nothing(kind, tmp_path, postgres_uri, s3):
    target = Target(kind, tmp_path, postgres_uri, s3)
    # The table exists with a column of another type: the store refuses the run's values.
    odd = pa.table({"Id": ["a1"], "Name": ["One"], "NumberOfEmployees": pa.array([dt.date(2020, 1, 1)])})
    run(odd, target.destination("append"))
    before = target.read()
    flow = sfarrow.Flow(s.ArrowSource(rows(["a1", "a2"], ["x", "y"])), target.destination("merge"), progress=False)
    with pytest.raises(sfarrow.DestinationError, match="refused the run into") as e:
        flow.run()
    assert e.value.error_code == {"postgres": "postgresql"}.get(kind, kind)
    assert target.read() == before
