"""What the sync tests share: a connection with Pub/Sub, a flow served on a thread, the table
and the org read the same way, and a wait for them to agree."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from sf_helpers import soap_undelete  # noqa: F401  (for the sync tests)
from waits import wait_until

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.sync.serve import serve
from sfarrow.testing import Org

FIELDS = ["Id", "Name", "Industry", "NumberOfEmployees", "BillingCity", "Description"]


def connect(org: Org) -> sfarrow.Connection:
    return sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file)


def pg_database(postgres_uri: str, name: str) -> str:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(postgres_uri, autocommit=True) as admin:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.cursor().execute(f"CREATE DATABASE {name}")
    return postgres_uri.rsplit("/", 1)[0] + "/" + name


def destination(kind: str, tmp_path: Any, postgres_uri: Any = None) -> Any:
    if kind == "delta":
        return d.DeltaDestination(str(tmp_path / "delta"), mode="merge")
    if kind == "sqlite":
        return d.DatabaseDestination(f"sqlite:///{tmp_path}/db.sqlite", "account", mode="merge")
    if kind == "duckdb":
        return d.DuckDBDestination(tmp_path / "db.duckdb", "account", mode="merge")
    return d.DatabaseDestination(pg_database(postgres_uri, f"sync_{tmp_path.name[-10:].lower()}"), "account", mode="merge")


def table_rows(dest: Any) -> list[tuple]:
    if isinstance(dest, d.DeltaDestination):
        query: Any = s.DeltaSource(dest.uri)
    elif isinstance(dest, d.DuckDBDestination):
        query = s.DatabaseSource(f"duckdb:///{dest.path}", 'SELECT * FROM "account"')
    else:
        query = s.DatabaseSource(dest.uri, 'SELECT * FROM "account"')
    out = d.ArrowDestination()
    sfarrow.Flow(query, out, progress=False).run()
    assert out.table is not None
    return sorted(tuple(_plain(r[f]) for f in FIELDS) for r in out.table.to_pylist())


def org_rows(conn: sfarrow.Connection) -> list[tuple]:
    return sorted(tuple(_plain(r[f]) for f in FIELDS) for r in conn.query(f"SELECT {', '.join(FIELDS)} FROM Account").to_pylist())


def _plain(v: Any) -> Any:
    return None if v is None else v if isinstance(v, str) else int(v)


def wait_equal(conn: sfarrow.Connection, dest: Any, timeout: float = 30.0) -> list[tuple]:
    """Waits until the table holds exactly the org's records; returns them."""
    seen: dict[str, Any] = {}

    def same() -> bool:
        want = org_rows(conn)
        try:
            have = table_rows(dest)
        except Exception as e:  # the table is not there yet
            seen["table"] = repr(e)
            return False
        seen["diff"] = sorted(set(want) ^ set(have), key=repr)[:6]
        return have == want

    try:
        wait_until(same, timeout=timeout, what="the table to equal the org", every=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}: {seen}") from None
    return org_rows(conn)


class Served:
    """A flow served on a thread until :meth:`stop`; the serve's error, if any, is raised there."""

    def __init__(self, flow: sfarrow.Flow) -> None:
        self.flow = flow
        self.halt = threading.Event()
        self.error: Any = None
        self.batches = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.batches = serve(self.flow, None, self.halt, signals=False)
        except BaseException as e:
            self.error = e

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the served flow did not stop"
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def served(flow: sfarrow.Flow) -> Iterator[Served]:
    running = Served(flow)
    try:
        yield running
    finally:
        running.stop()


def applied(caplog: Any) -> int:
    """Events the served flows applied, from their log lines."""
    return sum(int(m.group(1)) for r in caplog.records if (m := re.search(r"applied (\d+) events", r.getMessage())))


def swept(caplog: Any) -> int:
    """Sweeps the served flows made, from their log lines."""
    return sum(1 for r in caplog.records if "swept" in r.getMessage())
