"""Every Salesforce field type, read from the emulator, written to each destination and read
back, equals the source, after the mappings the docs state as lossy:

- PostgreSQL: ``numeric`` arrives as its digits (ADBC gives it as text), addresses and other
  nested values as JSON text (``JSONB``), timestamps and times in microseconds;
- SQLite: decimals, dates, times and timestamps as text (exact digits, ISO 8601 with ``Z``),
  booleans as 0/1, nested values as JSON text;
- DuckDB: as it was (timestamps and times in microseconds);
- Delta Lake: times of day as text, timestamps in microseconds."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import random
import sys

import pyarrow as pa
import pytest

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.testing import Org

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client"))
from test_read import ALL_TYPES, ARROW, generate

KINDS = ["postgres", "sqlite", "duckdb", "delta"]


@pytest.fixture(scope="module")
def source_tables():
    with Org(seed={"Account": 20}) as org:
        org.define_object("Typed__c", ALL_TYPES)
        org.load("Typed__c", pa.Table.from_pylist(generate(random.Random(7), 120), schema=ARROW))
        conn = sfarrow.Connection(org.url, org.access_token)
        typed = conn.query(f"SELECT Id, {', '.join(ARROW.names)} FROM Typed__c")
        accounts = conn.query("SELECT Id, Name, BillingAddress, ShippingAddress, CreatedDate, IsDeleted FROM Account")
        yield {"typed": typed, "account": accounts}


def as_stored(value, t: pa.DataType, kind: str):
    """A source value as the destination documents it keeps it."""
    if value is None:
        return None
    nested = pa.types.is_struct(t) or pa.types.is_list(t)
    if kind == "sqlite":
        if nested:
            return json.loads(json.dumps(value, default=str))
        if pa.types.is_boolean(t):
            return int(value)
        if pa.types.is_decimal(t):
            return str(value)
        if pa.types.is_timestamp(t):
            return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        if pa.types.is_time(t):
            return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        if pa.types.is_date(t):
            return value.isoformat()
        return value
    if kind == "postgres":
        if nested:
            return json.loads(json.dumps(value, default=str))
        if pa.types.is_decimal(t):
            return str(value)
    if kind == "delta" and pa.types.is_time(t):
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return value


def read_back(kind: str, target, table: str) -> pa.Table:
    out = d.ArrowDestination()
    source = s.DeltaSource(target) if kind == "delta" else s.DatabaseSource(target, f'SELECT * FROM "{table}"')
    sfarrow.Flow(source, out, progress=False).run()
    assert out.table is not None
    return out.table


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["typed", "account"])
def test_every_field_type_round_trips(kind, name, source_tables, tmp_path, postgres_uri):
    source = source_tables[name]
    table = f"types_{name}_{tmp_path.name[-12:].lower()}"
    target = {
        "postgres": postgres_uri,
        "sqlite": f"sqlite:///{tmp_path}/t.db",
        "duckdb": f"duckdb:///{tmp_path}/t.duckdb",
        "delta": str(tmp_path / "delta"),
    }[kind]
    dest = d.DeltaDestination(target, mode="merge") if kind == "delta" else d.DatabaseDestination(target, table, mode="merge")
    run = sfarrow.Flow(s.ArrowSource(source), dest, progress=False).run()
    assert run.records_written == source.num_rows
    got = {r["Id"]: r for r in read_back(kind, target, table).to_pylist()}
    assert len(got) == source.num_rows
    for row in source.to_pylist():
        back = got[row["Id"]]
        assert sorted(back) == sorted(row), "the same columns"
        for field in source.schema:
            stored = back[field.name]
            if isinstance(stored, str) and (pa.types.is_struct(field.type) or pa.types.is_list(field.type)):
                stored = json.loads(stored)
            expected = as_stored(row[field.name], field.type, kind)
            assert stored == expected, (kind, field.name, row[field.name], back[field.name])
    if kind == "duckdb" and name == "typed":
        # DuckDB keeps decimals as decimals of the same scale.
        money = next(v for v in (r["Money__c"] for r in got.values()) if v is not None)
        assert isinstance(money, decimal.Decimal)
