"""Incremental flows into Delta Lake and PostgreSQL with mode="merge": after every run,
including runs killed with SIGKILL at three points and run again, the table equals the
emulator's ``SELECT ... FROM Account`` row for row (no duplicates, no deleted records)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from waits import next_org_second

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.testing import Org

FIELDS = ["Id", "Name", "NumberOfEmployees", "Industry"]
HERE = os.path.dirname(__file__)


def source(conn: sfarrow.Connection) -> s.SalesforceSource:
    # Bulk pages of 5 rows: a run delivers several batches, so a kill can land between them.
    return s.SalesforceSource(conn, "Account", fields=FIELDS, incremental="SystemModstamp", include_deleted=True, lag=0, api="bulk", bulk_page_size=5)


def destination(kind: str, target: str):
    if kind == "delta":
        return d.DeltaDestination(target, mode="merge")
    return d.DatabaseDestination(target, "account", mode="merge")


def table_rows(kind: str, target: str) -> list[tuple]:
    query = s.DeltaSource(target) if kind == "delta" else s.DatabaseSource(target, 'SELECT * FROM "account"')
    out = d.ArrowDestination()
    sfarrow.Flow(query, out, progress=False).run()
    assert out.table is not None
    assert all(v in (False, None) for v in out.table["IsDeleted"].to_pylist())
    return sorted(tuple(r[f] for f in FIELDS) for r in out.table.to_pylist())


def org_rows(conn: sfarrow.Connection) -> list[tuple]:
    return sorted(tuple(r[f] for f in FIELDS) for r in conn.query(f"SELECT {', '.join(FIELDS)} FROM Account").to_pylist())


@pytest.mark.parametrize("kind", ["delta", "postgres"])
def test_merge_flows_stay_equal_to_the_org_through_changes_and_kills(kind, tmp_path, postgres_uri):
    target = str(tmp_path / "delta") if kind == "delta" else postgres_uri
    if kind == "postgres":
        # Its own database: the session's server is shared with other tests.
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(postgres_uri, autocommit=True) as admin:
            admin.cursor().execute("DROP DATABASE IF EXISTS exactly_once")
            admin.cursor().execute("CREATE DATABASE exactly_once")
        target = postgres_uri.rsplit("/", 1)[0] + "/exactly_once"
    with Org(seed={"Account": 150}, https=False) as org:
        conn = sfarrow.Connection(org.url, org.access_token)
        ids = sorted(conn.query("SELECT Id FROM Account")["Id"].to_pylist())
        flow = sfarrow.Flow(source(conn), destination(kind, target), state="accounts", progress=False)

        first = flow.run()
        assert first.records_read == 150 and first.since is None
        assert table_rows(kind, target) == org_rows(conn)

        def change(round: int) -> None:
            chosen = ids[round * 12 : round * 12 + 12]
            conn.update("Account", [{"Id": i, "Name": f"round {round} {i}", "NumberOfEmployees": round * 100} for i in chosen[:10]])
            conn.delete("Account", chosen[10:])
            next_org_second(conn)  # the window ends at the org's clock, to the second

        change(0)
        second = flow.run()
        assert second.records_read == 12 and second.since == first.watermark
        assert table_rows(kind, target) == org_rows(conn)
        assert len(table_rows(kind, target)) == 148

        for round, point in enumerate(["mid-read", "before-commit", "after-commit"], start=1):
            change(round)
            child = subprocess.run(
                [sys.executable, os.path.join(HERE, "killed_run.py"), org.url, org.access_token, kind, target, point],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
            rerun = flow.run()
            # A run killed after its commit left nothing to do; the others are done again.
            assert rerun.records_read == (0 if point == "after-commit" else 12), point
            assert table_rows(kind, target) == org_rows(conn), point
        assert len(table_rows(kind, target)) == 150 - 2 * 4
