"""Snowflake cannot be reached from here, so its path is checked by what it would send: the
driver it loads and the URI it hands over, and every statement of a merge run, in order,
through a connection that records them (and answers catalog queries as Snowflake would)."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa
import pytest

import sfarrow
from sfarrow import _stores
from sfarrow import destinations as d
from sfarrow import sources as s

URI = "snowflake://loader:s3cret@myorg-acct/SALES/PUBLIC?warehouse=LOAD_WH&role=LOADER"


class Recorder:
    """An ADBC connection as the Snowflake driver's dbapi gives one, recording what it is sent."""

    def __init__(self, columns: list[str], state: str | None = None) -> None:
        self.sent: list[tuple[str, tuple]] = []
        self.ingested: list[tuple[str, pa.Schema, int, str, bool]] = []
        self.columns = columns
        self.state = state
        self.commits = 0
        self.rollbacks = 0
        self.last = ""

    def adbc_get_info(self) -> dict:
        return {"vendor_name": "Snowflake", "driver_name": "ADBC Snowflake Driver - Go"}

    def cursor(self) -> Recorder:
        return self

    def execute(self, text: str, params: tuple = ()) -> None:
        self.sent.append((text, tuple(params)))
        self.last = text

    def fetchall(self) -> list[tuple]:
        if "information_schema.columns" in self.last and "'sfarrow_state'" in self.last:
            return [("flow", "TEXT", None, None), ("target", "TEXT", None, None), ("state", "TEXT", None, None)] if self.state is not None else []
        if "information_schema.columns" in self.last and "'sfarrow_flow_state'" in self.last:
            return []
        if "information_schema.columns" in self.last:
            return [(c, "TEXT", None, None) for c in self.columns]
        if self.last.startswith("SELECT state FROM"):
            return [(self.state,)] if self.state is not None else []
        return []

    def adbc_ingest(self, table: str, data, mode: str, temporary: bool) -> None:
        rows = sum(b.num_rows for b in data)
        self.ingested.append((table, data.schema, rows, mode, temporary))

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        pass


def data() -> pa.Table:
    return pa.table(
        {
            "Id": ["001A", "001B"],
            "Name": ["Acme", "Globex"],
            "AnnualRevenue": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(18, 2)),
            "CreatedDate": pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)] * 2, pa.timestamp("ms", "UTC")),
            "BillingAddress": pa.array([{"city": "Paris", "street": "1 rue"}, None]),
            "IsDeleted": [False, True],
        }
    )


def statements(rec: Recorder) -> list[str]:
    return [text for text, _ in rec.sent]


def test_the_uri_goes_to_the_snowflake_driver_as_given(monkeypatch):
    import adbc_driver_snowflake.dbapi

    assert _stores.connect_args(URI) == ("snowflake", "adbc_driver_snowflake.dbapi", URI, "snowflake")
    handed = []
    rec = Recorder(columns=[])

    def connect(uri, **kwargs):
        handed.append((uri, kwargs))
        return rec

    monkeypatch.setattr(adbc_driver_snowflake.dbapi, "connect", connect)
    dest = d.DatabaseDestination(URI, "ACCOUNTS", mode="append")
    assert "s3cret" not in repr(dest)
    sfarrow.Flow(s.ArrowSource(data()), dest, progress=False).run()
    assert handed == [(URI, {})], "the URI, and nothing else"
    assert rec.commits == 1


def test_a_first_merge_creates_the_table_and_merges_from_staging():
    rec = Recorder(columns=[])
    sfarrow.Flow(s.ArrowSource(data()), d.DatabaseDestination(rec, "SALES.ACCOUNTS", mode="merge"), progress=False).run()
    assert len(rec.ingested) == 1
    staging, schema, rows, mode, temporary = rec.ingested[0]
    assert (rows, mode, temporary) == (2, "create", True)
    assert schema.field("BillingAddress").type == pa.string(), "addresses travel as JSON text"
    assert schema.field("AnnualRevenue").type == pa.decimal128(18, 2)
    assert statements(rec) == [
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = 'SALES' AND table_name = 'ACCOUNTS' ORDER BY ordinal_position",
        'CREATE TABLE "SALES"."ACCOUNTS" ("Id" VARCHAR, "Name" VARCHAR, "AnnualRevenue" NUMBER(18, 2), "CreatedDate" TIMESTAMP_TZ, '
        '"BillingAddress" VARIANT, "IsDeleted" BOOLEAN, PRIMARY KEY ("Id"))',
        f'MERGE INTO "SALES"."ACCOUNTS" AS t USING "{staging}" AS s ON t."Id" = s."Id" '
        'WHEN MATCHED AND COALESCE(s."IsDeleted", FALSE) THEN DELETE '
        'WHEN MATCHED THEN UPDATE SET "Name" = s."Name", "AnnualRevenue" = s."AnnualRevenue", "CreatedDate" = CAST(s."CreatedDate" AS TIMESTAMP_TZ), '
        '"BillingAddress" = PARSE_JSON(s."BillingAddress"), "IsDeleted" = s."IsDeleted" '
        'WHEN NOT MATCHED AND NOT COALESCE(s."IsDeleted", FALSE) THEN INSERT ("Id", "Name", "AnnualRevenue", "CreatedDate", "BillingAddress", "IsDeleted") '
        'VALUES (s."Id", s."Name", s."AnnualRevenue", CAST(s."CreatedDate" AS TIMESTAMP_TZ), PARSE_JSON(s."BillingAddress"), s."IsDeleted")',
        f'DROP TABLE IF EXISTS "{staging}"',
    ]
    assert (rec.commits, rec.rollbacks) == (1, 0)


def test_a_new_field_is_added_and_the_watermark_is_written_in_the_same_transaction():
    rec = Recorder(columns=["Id", "Name"], state=json.dumps({"watermark": "2026-01-01T00:00:00.000Z", "source": None}))
    dest = d.DatabaseDestination(rec, "ACCOUNTS", mode="append")
    run = d.Run("k", flow="accounts", since="2026-01-01T00:00:00.000Z", watermark="2026-01-02T00:00:00.000Z", state={"watermark": "2026-01-02T00:00:00.000Z"})
    dest.deliver(data().schema, iter(data().to_batches()), run)
    sent = statements(rec)
    assert 'ALTER TABLE "ACCOUNTS" ADD COLUMN "AnnualRevenue" NUMBER(18, 2)' in sent
    assert 'ALTER TABLE "ACCOUNTS" ADD COLUMN "BillingAddress" VARIANT' in sent
    assert not any(t.startswith('CREATE TABLE "ACCOUNTS"') for t in sent)
    # Every DDL (Snowflake commits the open transaction before one) comes before the first
    # statement of the run's transaction; the data and the state row are in that transaction.
    first_dml = next(i for i, t in enumerate(sent) if t.startswith("UPDATE"))
    assert all(not t.startswith(("CREATE", "ALTER")) for t in sent[first_dml:-1])
    assert sent[-1].startswith("DROP TABLE IF EXISTS"), "the staging table goes after the commit"
    assert rec.sent[first_dml:-1] == [
        ('UPDATE "sfarrow_state" SET state = state WHERE flow = ? AND target = ?', ("accounts", "ACCOUNTS")),
        ('SELECT state FROM "sfarrow_state" WHERE flow = ? AND target = ?', ("accounts", "ACCOUNTS")),
        rec.sent[first_dml + 2],
        ('DELETE FROM "sfarrow_state" WHERE flow = ? AND target = ?', ("accounts", "ACCOUNTS")),
        ('INSERT INTO "sfarrow_state" (flow, target, state) VALUES (?, ?, ?)', ("accounts", "ACCOUNTS", '{"watermark":"2026-01-02T00:00:00.000Z"}')),
    ]
    assert rec.sent[first_dml + 2][0].startswith('INSERT INTO "ACCOUNTS"')
    assert (
        sent.index(
            'CREATE TABLE IF NOT EXISTS "sfarrow_state" (flow VARCHAR(255) NOT NULL, target VARCHAR(1024) NOT NULL, state TEXT NOT NULL, PRIMARY KEY (flow, target))'
        )
        < first_dml
    )
    assert rec.commits == 1


def test_a_watermark_moved_by_another_run_rolls_back():
    rec = Recorder(columns=["Id"], state=json.dumps({"watermark": "2026-01-03T00:00:00.000Z"}))
    run = d.Run("k", flow="accounts", since="2026-01-01T00:00:00.000Z", watermark="2026-01-02T00:00:00.000Z", state={"watermark": "x"})
    with pytest.raises(sfarrow.ConfigurationError, match="another run of flow 'accounts' committed"):
        d.DatabaseDestination(rec, "ACCOUNTS").deliver(data().schema, iter(data().to_batches()), run)
    assert (rec.commits, rec.rollbacks) == (0, 1)
