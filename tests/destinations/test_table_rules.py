"""The rules every table destination shares (``destinations/_table.py``), each tried where a
careless user, a scheduler or a hand-edited state row would break it: a mapping that leaves
out IsDeleted, two flows of one object into two tables, two first runs at once, a decimal whose
scale grows, names PostgreSQL would cut, views over a table being overwritten, quotes in a
merge key, tampered state rows, NaN in SQLite, and a run whose starting watermark moved."""

from __future__ import annotations

import decimal
import json
import sqlite3
import warnings

import pyarrow as pa
import pytest
from waits import next_org_second

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.testing import Org

FIELDS = ["Id", "Name"]


def pg_database(postgres_uri: str, name: str) -> str:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(postgres_uri, autocommit=True) as admin:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.cursor().execute(f"CREATE DATABASE {name}")
    return postgres_uri.rsplit("/", 1)[0] + "/" + name


def merge_destination(kind: str, tmp_path, postgres_uri, table: str = "account"):
    if kind == "delta":
        return d.DeltaDestination(tmp_path / table, mode="merge")
    if kind == "sqlite":
        return d.DatabaseDestination(f"sqlite:///{tmp_path}/db.sqlite", table, mode="merge")
    return d.DatabaseDestination(pg_database(postgres_uri, f"rules_{tmp_path.name[-8:].lower()}"), table, mode="merge")


def ids_in(dest) -> list[str]:
    if isinstance(dest, d.DeltaDestination):
        src = s.DeltaSource(dest.uri)
    else:
        src = s.DatabaseSource(dest.uri, f'SELECT * FROM "{dest.table}"')
    out = d.ArrowDestination()
    sfarrow.Flow(src, out, progress=False).run()
    assert out.table is not None
    return sorted(out.table["Id"].to_pylist())


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "delta"])
def test_a_mapping_never_hides_deletions_from_a_merge(kind, tmp_path, postgres_uri):
    with Org(seed={"Account": 12}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        ids = sorted(conn.query("SELECT Id FROM Account")["Id"].to_pylist())
        conn.delete("Account", ids[:1])  # in the recycle bin before the first run
        dest = merge_destination(kind, tmp_path, postgres_uri)
        source = s.SalesforceSource(conn, "Account", incremental="SystemModstamp", include_deleted=True, lag=0)
        flow = sfarrow.Flow(source, dest, mapping={"Id": "Id", "Name": "account_name"}, progress=False)
        flow.run()
        assert ids_in(dest) == ids[1:], "a record already deleted arrived as a live row"
        conn.delete("Account", ids[1:3])
        next_org_second(conn)
        flow.run()
        assert ids_in(dest) == ids[3:], "a record deleted between runs stayed in the table"


def test_a_merge_reads_its_key_when_the_mapping_renames_everything_else(tmp_path):
    with Org(seed={"Account": 5}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        dest = d.DatabaseDestination(f"sqlite:///{tmp_path}/db.sqlite", "account", mode="merge")
        sfarrow.Flow(s.SalesforceSource(conn, "Account"), dest, mapping={"Name": "account_name"}, progress=False).run()
        assert len(ids_in(dest)) == 5


def test_two_flows_of_one_object_into_two_tables_keep_their_own_watermarks(tmp_path):
    with Org(seed={"Account": 9}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        uri = f"sqlite:///{tmp_path}/db.sqlite"

        def flow(table: str) -> sfarrow.Flow:
            source = s.SalesforceSource(conn, "Account", fields=FIELDS, incremental="SystemModstamp", lag=0)
            return sfarrow.Flow(source, d.DatabaseDestination(uri, table, mode="merge"), progress=False)

        assert flow("a").run().records_read == 9
        assert flow("b").run().records_read == 9, "the second table was given the first one's watermark"
        first = conn.query("SELECT Id FROM Account LIMIT 1")["Id"][0].as_py()
        conn.update("Account", [{"Id": first, "Name": "changed"}])
        next_org_second(conn)
        assert flow("a").run().records_read == 1
        assert flow("b").run().records_read == 1, "the first table's run consumed the second's window"
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            assert sorted(db.execute("SELECT flow, target FROM sfarrow_state")) == [("Account", "a"), ("Account", "b")]


def test_a_state_row_of_0x_is_read_once_then_kept_per_table(tmp_path):
    uri = f"sqlite:///{tmp_path}/db.sqlite"
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("CREATE TABLE sfarrow_flow_state (flow VARCHAR(255) PRIMARY KEY, state TEXT NOT NULL)")
        db.execute("INSERT INTO sfarrow_flow_state VALUES ('Account', ?)", (json.dumps({"watermark": "2026-01-01T00:00:00.000Z", "source": None}),))
    dest = d.DatabaseDestination(uri, "account", mode="merge")
    assert dest.load_state("Account")["watermark"] == "2026-01-01T00:00:00.000Z"


def test_two_first_runs_at_once_into_a_new_delta_table_leave_each_record_once(tmp_path):
    rows = pa.table({"Id": [f"001{i:015d}" for i in range(20)], "Name": [f"n{i}" for i in range(20)]})
    dest = d.DeltaDestination(tmp_path / "t", mode="merge")
    other = d.DeltaDestination(tmp_path / "t", mode="merge")
    looked = d.DeltaDestination._table

    def racing(self):
        # The first run looks, finds no table, and before it goes on the second run (a
        # scheduler overlap on a first run) does all its work, start to commit.
        found = looked(self)
        if self is dest and not getattr(self, "raced", False):
            self.raced = True
            other.deliver(rows.schema, iter(rows.to_batches()), d.Run("b"))
        return found

    d.DeltaDestination._table = racing
    try:
        dest.deliver(rows.schema, iter(rows.to_batches()), d.Run("a"))
    except sfarrow.DestinationError:
        pass  # the later of two commits to one table may be refused; each record is once either way
    finally:
        d.DeltaDestination._table = looked
    assert dest.raced
    assert ids_in(dest) == sorted(rows["Id"].to_pylist())


@pytest.mark.parametrize("kind", ["postgres", "duckdb", "delta"])
def test_a_decimal_whose_scale_grows_is_refused_not_rounded(kind, tmp_path, postgres_uri):
    if kind == "postgres":
        dest = d.DatabaseDestination(pg_database(postgres_uri, "scale_grows"), "amounts", mode="append")
    elif kind == "duckdb":
        dest = d.DuckDBDestination(tmp_path / "db.duckdb", "amounts", mode="append")
    else:
        dest = d.DeltaDestination(tmp_path / "amounts", mode="append")

    def run(value: str, precision: int, scale: int) -> None:
        t = pa.table({"Id": ["a"], "Amount": pa.array([decimal.Decimal(value)], pa.decimal128(precision, scale))})
        sfarrow.Flow(s.ArrowSource(t), dest, progress=False).run()

    run("1.25", 18, 2)
    with pytest.raises(sfarrow.DestinationError, match="Amount.*rounded"):
        run("1.2345", 18, 4)
    run("7.5", 17, 1)  # a shorter fraction fits
    out = d.ArrowDestination()
    src = s.DeltaSource(dest.uri) if kind == "delta" else s.DatabaseSource(dest.uri, 'SELECT * FROM "amounts"')
    sfarrow.Flow(src, out, progress=False).run()
    assert sorted(decimal.Decimal(str(v)) for v in out.table["Amount"].to_pylist()) == [decimal.Decimal("1.25"), decimal.Decimal("7.5")]


def test_postgres_names_it_would_cut_are_refused_before_anything_is_written(postgres_uri):
    uri = pg_database(postgres_uri, "long_names")
    long = "Very_Long_Custom_Field_Name_That_Goes_On_And_On_Past_The_Limit__c"
    assert len(long) > 63
    t = pa.table({"Id": ["a"], long: ["x"]})
    with pytest.raises(sfarrow.ConfigurationError, match="63 bytes"):
        sfarrow.Flow(s.ArrowSource(t), d.DatabaseDestination(uri, "long_names"), progress=False).run()
    with pytest.raises(sfarrow.ConfigurationError, match="63 bytes"):
        d.DatabaseDestination(uri, "t" * 64)
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(uri) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'long_names%'")
        assert cur.fetchone() == (0,)
    # Renamed by the flow's mapping, the same data goes in.
    sfarrow.Flow(s.ArrowSource(t), d.DatabaseDestination(uri, "long_names"), mapping={"Id": "Id", long: "long_field"}, progress=False).run()


def test_overwrite_keeps_the_views_over_a_postgres_table(postgres_uri):
    import adbc_driver_postgresql.dbapi as pg

    uri = pg_database(postgres_uri, "views_stay")
    dest = d.DatabaseDestination(uri, "accounts", mode="overwrite")
    sfarrow.Flow(s.ArrowSource(pa.table({"Id": ["a", "b"]})), dest, progress=False).run()
    with pg.connect(uri, autocommit=True) as c, c.cursor() as cur:
        cur.execute('CREATE VIEW account_ids AS SELECT "Id" FROM accounts')
    for ids in (["c"], ["d", "e", "f"]):
        sfarrow.Flow(s.ArrowSource(pa.table({"Id": ids})), dest, progress=False).run()
        with pg.connect(uri) as c, c.cursor() as cur:
            cur.execute('SELECT "Id" FROM account_ids ORDER BY 1')
            assert [r[0] for r in cur.fetchall()] == ids


def test_the_old_mode_word_still_works_with_a_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match='mode="overwrite"'):
        dest = d.DatabaseDestination(f"sqlite:///{tmp_path}/db.sqlite", "t", mode="replace")
    assert dest.mode == "overwrite"
    with pytest.raises(sfarrow.ConfigurationError, match="append"):
        d.DeltaDestination(tmp_path / "t", mode="upsert")


def test_a_delta_merge_key_with_a_quote_matches_only_itself(tmp_path):
    key = 'Ext"Id'
    dest = d.DeltaDestination(tmp_path / "t", mode="merge", key=key)
    first = pa.table({key: ["a", "b", "c"], "Name": ["1", "2", "3"]})
    sfarrow.Flow(s.ArrowSource(first), dest, progress=False).run()
    sfarrow.Flow(s.ArrowSource(pa.table({key: ["b"], "Name": ["changed"]})), dest, progress=False).run()
    out = d.ArrowDestination()
    sfarrow.Flow(s.DeltaSource(dest.uri), out, progress=False).run()
    assert sorted(zip(out.table[key].to_pylist(), out.table["Name"].to_pylist(), strict=False)) == [("a", "1"), ("b", "changed"), ("c", "3")]


@pytest.mark.parametrize("row", ["[]", "null", "42", '"text"', "not json"])
def test_a_tampered_state_row_is_a_configuration_error_on_load(row, tmp_path):
    with Org(seed={"Account": 3}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        uri = f"sqlite:///{tmp_path}/db.sqlite"
        source = s.SalesforceSource(conn, "Account", fields=FIELDS, incremental="SystemModstamp", lag=0)
        flow = sfarrow.Flow(source, d.DatabaseDestination(uri, "account", mode="append"), progress=False)
        flow.run()
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            db.execute("UPDATE sfarrow_state SET state = ?", (row,))
        with pytest.raises(sfarrow.ConfigurationError, match="state of flow 'Account'.*delete it"):
            flow.run()
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM account").fetchone() == (3,), "nothing was read again"


def test_a_watermark_saved_without_milliseconds_is_used(tmp_path):
    with Org(seed={"Account": 3}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        uri = f"sqlite:///{tmp_path}/db.sqlite"
        source = s.SalesforceSource(conn, "Account", fields=FIELDS, incremental="SystemModstamp", lag=0)
        flow = sfarrow.Flow(source, d.DatabaseDestination(uri, "account", mode="append"), progress=False)
        first = flow.run()
        short = first.watermark[:-5] + "Z"  # 2026-...T10:00:00Z
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            db.execute("UPDATE sfarrow_state SET state = ?", (json.dumps({"watermark": short, "source": source.shape()}),))
        again = flow.run()
        assert again.since == short[:-1] + ".000Z" and again.records_read == 0
        assert flow.run().since == again.watermark


def test_nan_is_refused_by_sqlite_not_stored_as_null(tmp_path):
    dest = d.DatabaseDestination(f"sqlite:///{tmp_path}/db.sqlite", "t")
    with pytest.raises(sfarrow.ConfigurationError, match="NaN"):
        sfarrow.Flow(s.ArrowSource(pa.table({"Id": ["a", "b"], "x": [1.5, float("nan")]})), dest, progress=False).run()
    sfarrow.Flow(s.ArrowSource(pa.table({"Id": ["a"], "x": [1.5]})), dest, progress=False).run()


@pytest.mark.parametrize("kind", ["postgres", "delta"])
def test_a_watermark_moved_by_another_run_rolls_back(kind, tmp_path, postgres_uri):
    if kind == "postgres":
        dest = d.DatabaseDestination(pg_database(postgres_uri, "moved"), "account", mode="merge")
    else:
        dest = d.DeltaDestination(tmp_path / "t", mode="merge")

    def run(since, until, name):
        rows = pa.table({"Id": ["001A"], "Name": [name]})
        state = {"watermark": until, "source": None}
        dest.deliver(rows.schema, iter(rows.to_batches()), d.Run("k", flow="accounts", since=since, watermark=until, state=state))

    run(None, "2026-01-01T00:00:00.000Z", "first")
    run("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "second")
    with pytest.raises(sfarrow.ConfigurationError, match="another run of flow 'accounts' committed"):
        run("2026-01-01T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "late")
    assert dest.load_state("accounts")["watermark"] == "2026-01-02T00:00:00.000Z"
    out = d.ArrowDestination()
    src = s.DeltaSource(dest.uri) if kind == "delta" else s.DatabaseSource(dest.uri, 'SELECT * FROM "account"')
    sfarrow.Flow(src, out, progress=False).run()
    assert out.table["Name"].to_pylist() == ["second"]


def test_secrets_in_a_database_uri_stay_hidden_and_reach_only_their_host(postgres_uri):
    import adbc_driver_postgresql.dbapi as pg

    password = "p/w@d:x%?"
    with pg.connect(postgres_uri, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS odd_password")
        cur.execute("CREATE ROLE odd_password LOGIN SUPERUSER PASSWORD 'p/w@d:x%?'")
    host = postgres_uri.split("@", 1)[1]
    uri = f"postgresql://odd_password:{password}@{host}"
    for obj in (d.DatabaseDestination(uri, "t"), s.DatabaseSource(uri, "SELECT 1 AS x")):
        assert password not in repr(obj) and "w@d" not in repr(obj) and "p/w" not in repr(obj), repr(obj)
    # The driver is handed the host the user meant (the password does not end at its "@").
    from sfarrow import _stores

    handed = _stores.connect_args(uri)[2]
    assert handed.endswith("@" + host) and "p%2Fw%40d%3Ax%25%3F" in handed
    out = d.ArrowDestination()
    sfarrow.Flow(s.DatabaseSource(uri, "SELECT 1 AS x"), out, progress=False).run()
    assert out.table["x"].to_pylist() == [1]
    wrong = uri.replace("@" + host, "@127.0.0.1:1/nowhere")
    with pytest.raises(sfarrow.ConfigurationError) as caught:
        sfarrow.Flow(s.DatabaseSource(wrong, "SELECT 1"), d.ArrowDestination(), progress=False).run()
    for part in (password, "w@d", "p/w", "p%2Fw"):
        assert part not in str(caught.value)


def test_tables_and_delta_feed_salesforce(tmp_path):
    with Org(seed={}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        rows = pa.table({"Name": ["From Delta 1", "From Delta 2"], "NumberOfEmployees": pa.array([1, 2], pa.int32())})
        sfarrow.Flow(s.ArrowSource(rows), d.DeltaDestination(tmp_path / "lake"), progress=False).run()
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            db.execute('CREATE TABLE accounts ("Name" TEXT, "NumberOfEmployees" INTEGER)')
            db.executemany("INSERT INTO accounts VALUES (?, ?)", [("From SQL 1", 3), ("From SQL 2", 4), ("From SQL 3", 5)])
        target = d.SalesforceDestination(conn, "Account", operation="insert")
        assert sfarrow.Flow(s.DeltaSource(tmp_path / "lake"), target, progress=False).run().records_written == 2
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sql = s.DatabaseSource(f"sqlite:///{tmp_path}/db.sqlite", 'SELECT "Name", "NumberOfEmployees" FROM accounts')
            assert sfarrow.Flow(sql, target, progress=False).run().records_written == 3
        got = conn.query("SELECT Name, NumberOfEmployees FROM Account ORDER BY Name").to_pylist()
        assert [(r["Name"], r["NumberOfEmployees"]) for r in got] == [
            ("From Delta 1", 1),
            ("From Delta 2", 2),
            ("From SQL 1", 3),
            ("From SQL 2", 4),
            ("From SQL 3", 5),
        ]
