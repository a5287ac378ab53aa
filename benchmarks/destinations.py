"""Destinations benchmark: a Salesforce flow into PostgreSQL and into Delta Lake, beside pandas
(not a test).

Starts an emulator in its own process with N Account rows and a PostgreSQL server of its own
(``tests/pg_server.py``: a new cluster in a temporary directory, fsync off), then runs each case
in a fresh process and prints wall time, rows/s and peak RSS (the client process only). Every
case reads the same 12 Account fields (text, bool, int, decimal, double, date, datetimes) by
Bulk API 2.0; the pandas cases read them the way a pandas user would,
``conn.query(soql, api="bulk").to_pandas()``, so the read is in both sides' time:

  sfarrow-postgres           Flow -> DatabaseDestination(pg, "account", mode="overwrite"): ADBC
                             COPY into a staging table, then INSERT ... SELECT, one transaction
  sfarrow-postgres-merge     the same, mode="merge", into a table that already holds every row
                             (an incremental pipeline's second run: every row matched and
                             updated); the table is filled once by an untimed run and vacuumed
                             before each timed one
  pandas-to_sql              df.to_sql("account_pandas", SQLAlchemy 2 engine on psycopg 3,
                             if_exists="replace", index=False, method="multi", chunksize=5000):
                             one multi-row INSERT per 5,000 rows (10,000 rows x 12 columns
                             would pass PostgreSQL's 65,535 parameters a statement)
  pandas-to_sql-executemany  the same with pandas' default method=None and chunksize=10_000:
                             psycopg 3's executemany (pipelined), much faster than "multi"
  sfarrow-delta              Flow -> DeltaDestination(tmpdir, mode="overwrite")
  pandas-write_deltalake     deltalake.write_deltalake(tmpdir, df, mode="overwrite")

Before each PostgreSQL case the target table is dropped (a replace case then creates it) and
the server checkpoints, untimed; after it the rows in the table are counted. The pandas frame
has its own types (NumberOfEmployees float64, AnnualRevenue Decimal objects: TEXT in
PostgreSQL, a narrower decimal in Delta); sfarrow's tables keep Salesforce's.

    python benchmarks/destinations.py
    python benchmarks/destinations.py --rows 1000000 --repeat 3   # medians, for a noisy machine

Build with ``maturin develop --release`` first. PostgreSQL's server programs must be installed
(``apt-get install postgresql``, as scripts/test.sh does).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _harness import emulator, measure, parser, run_in_process

FIELDS = [
    "Id",
    "Name",
    "IsDeleted",
    "CreatedDate",
    "SystemModstamp",
    "NumberOfEmployees",
    "AnnualRevenue",
    "Industry",
    "BillingCity",
    "Phone",
    "Health_Score__c",
    "SLA_Expiration__c",
]
SOQL = f"SELECT {', '.join(FIELDS)} FROM Account"
CASES = ["sfarrow-postgres", "sfarrow-postgres-merge", "pandas-to_sql", "pandas-to_sql-executemany", "sfarrow-delta", "pandas-write_deltalake"]
#: The PostgreSQL table each case writes.
TABLES = {
    "sfarrow-postgres": "account",
    "sfarrow-postgres-merge": "account_merge",
    "pandas-to_sql": "account_pandas",
    "pandas-to_sql-executemany": "account_pandas",
}
#: sfarrow against its pandas peers: (sfarrow case, pandas case).
PAIRS = [
    ("sfarrow-postgres", "pandas-to_sql"),
    ("sfarrow-postgres", "pandas-to_sql-executemany"),
    ("sfarrow-delta", "pandas-write_deltalake"),
]


def engine_uri(pg: str) -> str:
    """SQLAlchemy's name for psycopg 3 on the same server."""
    return pg.replace("postgresql://", "postgresql+psycopg://", 1)


def directory_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 1e6


def flow(conn: Any, destination: Any) -> Any:
    import sfarrow

    return sfarrow.Flow(sfarrow.SalesforceSource(conn, "Account", fields=FIELDS, api="bulk"), destination, progress=False)


def run_case(case: str, a: argparse.Namespace) -> None:
    """Sets up outside the clock (connection, describe, SQLAlchemy engine, an empty directory),
    then measures the read and the write."""
    import sfarrow

    conn = sfarrow.Connection(a.url, a.token, ca_file=a.ca)
    conn.schema("Account")
    extra: dict[str, Any] = {}
    if case == "fill":  # the table the merge case merges into; not measured
        flow(conn, sfarrow.DatabaseDestination(a.pg, TABLES["sfarrow-postgres-merge"], mode="overwrite")).run()
        return measure(lambda: 0)
    if case.startswith("sfarrow-postgres"):
        mode = "merge" if case.endswith("merge") else "overwrite"
        destination = sfarrow.DatabaseDestination(a.pg, TABLES[case], mode=mode)
        return measure(lambda: flow(conn, destination).run().records_written)
    if case.startswith("pandas-to_sql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(engine_uri(a.pg))
        with engine.connect():
            pass  # the first connection (and the dialect's server checks) before the clock
        if case == "pandas-to_sql":
            method, chunksize = "multi", 5000
        else:
            method, chunksize = None, 10_000
        assert method is None or chunksize * len(FIELDS) <= 65_535, "over PostgreSQL's parameters a statement"

        def to_sql() -> int:
            df = conn.query(SOQL, api="bulk").to_pandas()
            df.to_sql(TABLES[case], engine, if_exists="replace", index=False, method=method, chunksize=chunksize)
            return len(df)

        measure(to_sql)
        engine.dispose()
        return
    out = tempfile.mkdtemp(prefix="sfarrow-bench-delta-")
    try:
        if case == "sfarrow-delta":
            destination = sfarrow.DeltaDestination(out, mode="overwrite")

            def work() -> int:
                rows = flow(conn, destination).run().records_written
                extra["mb"] = directory_mb(out)
                return rows

        else:
            import deltalake

            def work() -> int:
                df = conn.query(SOQL, api="bulk").to_pandas()
                deltalake.write_deltalake(out, df, mode="overwrite")
                extra["mb"] = directory_mb(out)
                return len(df)

        measure(work, extra)
    finally:
        shutil.rmtree(out, ignore_errors=True)


class Postgres:
    """The parent's own connection to the server, for the untimed work around each case."""

    def __init__(self, uri: str) -> None:
        import psycopg

        self.conn = psycopg.connect(uri, autocommit=True)

    def sql(self, text: str) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(text)
        return cur.fetchall() if cur.description else []

    def before(self, case: str) -> None:
        table = TABLES.get(case)
        if table is None:
            return
        if case.endswith("merge"):
            self.sql(f'VACUUM ANALYZE "{table}"')
        else:
            self.sql(f'DROP TABLE IF EXISTS "{table}"')
        self.sql("CHECKPOINT")

    def rows(self, case: str) -> int:
        return int(self.sql(f'SELECT count(*) FROM "{TABLES[case]}"')[0][0])

    def mb(self, case: str) -> float:
        return int(self.sql(f"SELECT pg_total_relation_size('\"{TABLES[case]}\"')")[0][0]) / 1e6


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=1_000_000, help="Account rows in the org, read and written by every case")
    p.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    p.add_argument("--repeat", type=int, default=1, help="runs of each case; figures are medians")
    p.add_argument("--pg", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:
        # Imports are not part of a case's time: each library is loaded before the clock starts.
        import pyarrow  # noqa: F401

        import sfarrow  # noqa: F401

        if a.case.startswith("pandas"):
            import pandas  # noqa: F401
        if "postgres" in a.case or a.case == "fill":
            import adbc_driver_postgresql.dbapi  # noqa: F401
        elif "to_sql" in a.case:
            import psycopg  # noqa: F401
            import sqlalchemy  # noqa: F401
        else:
            import deltalake  # noqa: F401
        run_case(a.case, a)
        return

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from pg_server import Server

    n = a.rows
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in a.cases}
    server = Server().start()
    try:
        pg = Postgres(server.uri)
        with emulator({"Account": n}) as org:
            hidden = ["--pg", server.uri]
            if "sfarrow-postgres-merge" in a.cases:
                run_in_process(__file__, "fill", org, hidden)
                assert pg.rows("sfarrow-postgres-merge") == n
            # Rounds interleave the cases, so a noisy minute on a shared machine hits them alike.
            for _ in range(a.repeat):
                for case in a.cases:
                    pg.before(case)
                    try:
                        r = run_in_process(__file__, case, org, hidden)
                    except RuntimeError as e:
                        print(e)
                        continue
                    assert r["rows"] == n, (case, r)
                    if case in TABLES:
                        assert pg.rows(case) == n, (case, pg.rows(case))
                        r["mb"] = pg.mb(case)
                    runs[case].append(r)
                    print(
                        f"{n:>9,} rows  {case:26} {r['seconds']:8.2f} s {n / r['seconds']:>10,.0f} rows/s  peak RSS {r['rss_mb']:6.0f} MB"
                        f"  CPU client {r['client_cpu']:6.2f} s  emulator {r['server_cpu']:6.2f} s  ({r['mb']:.1f} MB written)",
                        flush=True,
                    )
        pg.conn.close()
    finally:
        server.stop()

    def median(case: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[case])

    done = [case for case in a.cases if runs[case]]
    print(f"\nmedians of {a.repeat} run{'s' if a.repeat > 1 else ''} each:")
    for case in done:
        seconds = median(case, "seconds")
        print(f"{n:>9,} rows  {case:26} {seconds:8.2f} s {n / seconds:>10,.0f} rows/s  peak RSS {median(case, 'rss_mb'):6.0f} MB")
    for fast, slow in PAIRS + [("sfarrow-postgres", "sfarrow-postgres-merge")]:
        if fast in done and slow in done:
            time_ratio = median(slow, "seconds") / median(fast, "seconds")
            rss_ratio = median(slow, "rss_mb") / median(fast, "rss_mb")
            print(f"{n:>9,} rows  {slow} / {fast} = {time_ratio:.2f}x time, {rss_ratio:.2f}x peak RSS")


if __name__ == "__main__":
    main()
