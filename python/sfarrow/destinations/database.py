"""Database destinations: PostgreSQL, SQLite and Snowflake through ADBC, and DuckDB.

Every run goes the same way, in one transaction: the batches stream into a temporary staging
table (ADBC bulk ingest, or DuckDB's Arrow scan), then one statement moves them into the
target (``INSERT ... SELECT`` for append and replace, ``MERGE`` on the key for merge), and the
flow's state row is replaced. A run that fails or is killed rolls back whole: the table and
the watermark stay as the last good run left them.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Optional, Union

from sfarrow._bridge import deliver_on_thread
from sfarrow._stores import connect_args, open_connection, redact, refused, vendor
from sfarrow.destinations import sql
from sfarrow.destinations._base import Changes, Delivered, Run
from sfarrow.destinations._conform import Conformer
from sfarrow.destinations._table import (
    TableMode,
    check_fits,
    check_merging,
    check_run,
    check_state,
    checked_key,
    deleted_column,
    feed,
    needed_fields,
    saved_state,
    table_mode,
)
from sfarrow.exceptions import ConfigurationError, SalesforceError


class _Session:
    """One connection: statements, rows, a staging ingest, and the transaction."""

    def __init__(self, conn: Any, owned: bool, dialect: sql.Dialect) -> None:
        self.conn = conn
        self.owned = owned
        self.dialect = dialect
        self.cursor = self._cursor(conn)

    def _cursor(self, conn: Any) -> Any:
        return conn.cursor()

    def execute(self, text: str, params: tuple[Any, ...] = ()) -> None:
        self.cursor.execute(text, params) if params else self.cursor.execute(text)

    def rows(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.execute(text, params)
        return list(self.cursor.fetchall())

    def first_column(self, text: str) -> list[Any]:
        """The first column of a query's rows (through Arrow: thousands of keys, no tuple each)."""
        self.execute(text)
        return list(self.cursor.fetch_arrow_table().column(0).to_pylist())

    def ingest(self, table: str, schema: Any, batches: Iterator[Any]) -> None:
        import pyarrow as pa

        self.cursor.adbc_ingest(table, pa.RecordBatchReader.from_batches(schema, batches), mode="create", temporary=True)

    def begin(self) -> None:
        pass  # ADBC connections open a transaction on their own (autocommit is off)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception:
            pass  # the connection is gone: the server has rolled back

    def close(self) -> None:
        self.cursor.close()
        if self.owned:
            self.conn.close()


class _DuckSession(_Session):
    """DuckDB's own connection: a cursor would be a second connection, and temporary tables
    belong to one."""

    def _cursor(self, conn: Any) -> Any:
        return conn

    def close(self) -> None:
        if self.owned:
            self.conn.close()

    def ingest(self, table: str, schema: Any, batches: Iterator[Any]) -> None:
        import pyarrow as pa

        view = f"{table}_in"
        self.conn.register(view, pa.RecordBatchReader.from_batches(schema, batches))
        try:
            self.execute(f"CREATE TEMP TABLE {sql.quote(table)} AS SELECT * FROM {sql.quote(view)}")
        finally:
            self.conn.unregister(view)

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def first_column(self, text: str) -> list[Any]:
        return [r[0] for r in self.rows(text)]


class DatabaseDestination:
    """A table in PostgreSQL (15 or later), SQLite or Snowflake, through ADBC.

    ``uri_or_connection`` is a URI (``postgresql://user:pw@host/db``, ``sqlite:///relative.db`` or ``sqlite:////absolute.db``,
    ``snowflake://user:pw@account/db/schema?warehouse=wh``) or an open ADBC connection (the
    flow then leaves it open). ``mode``:

    - ``"append"`` adds the run's rows;
    - ``"overwrite"`` makes them the table's only rows (its other rows deleted in the run's
      transaction; the table, its grants and the views over it stay);
    - ``"merge"`` updates rows whose ``key`` matches, inserts the others and deletes rows whose
      ``IsDeleted`` is true (a source that reads deleted records delivers them so).

    The table is created from the Arrow schema on the first run (types in
    :mod:`sfarrow.destinations.sql`); a field the object gains later becomes a new column. A
    run whose column no longer fits the table's (another kind of value, a longer fraction) is
    refused before anything is written. Column names keep Salesforce's case, so SQL quotes
    them: ``SELECT "Name" FROM account``.

    Incremental flows keep their watermark in the ``sfarrow_state`` table of the same
    database, a row per flow and table, written in the run's transaction: the flow's
    ``state=`` is then only its name.
    """

    def __init__(
        self,
        uri_or_connection: Union[str, Any],
        table: str,
        *,
        mode: TableMode = "append",
        key: str = "Id",
        dialect: Optional[str] = None,
    ) -> None:
        self.mode = table_mode(mode, type(self).__name__)
        if not isinstance(table, str) or not table or not all(part.strip() for part in table.split(".")) or table.count(".") > 1:
            raise ConfigurationError(f'table is "name" or "schema.name", got {table!r}')
        self.table = table
        self.key = checked_key(key)
        if isinstance(uri_or_connection, str):
            self.uri: Optional[str] = uri_or_connection
            self.connection: Any = None
            name = connect_args(uri_or_connection)[0]
        else:
            self.uri = None
            self.connection = uri_or_connection
            name = dialect or vendor(uri_or_connection)
        self.dialect = sql.dialect_named(dialect or name)
        self._check_names([])
        self._held: Optional[_Session] = None
        self._holder = 0

    def __repr__(self) -> str:
        where = redact(self.uri) if self.uri is not None else type(self.connection).__name__
        return f"{type(self).__name__}({where!r}, {self.table!r}, mode={self.mode!r})"

    @property
    def required_fields(self) -> list[str]:
        """What a run needs whatever the flow's mapping keeps (a merge: its key, IsDeleted)."""
        return needed_fields(self.mode, self.key)

    def _check_names(self, names: list[str]) -> None:
        long = self.dialect.long_names(self.table, names)
        if long:
            raise ConfigurationError(
                f"{self.dialect.name} keeps {self.dialect.max_name_bytes} bytes of a name, and would cut {long[0]!r} short "
                "(the next run would not find it); rename it (the flow's mapping renames columns)"
            )

    def _open(self) -> _Session:
        kind = _DuckSession if self.dialect.name == "duckdb" else _Session
        if self.connection is not None:
            return kind(self.connection, False, self.dialect)
        assert self.uri is not None
        return kind(open_connection(self.uri)[1], True, self.dialect)

    def hold(self) -> None:
        """Keeps one connection open for the calls that follow, until :meth:`release`: a served
        flow's micro-batches then cost no new connection each (a PostgreSQL login takes tens
        of milliseconds). Only the thread that called it uses the held connection. DuckDB
        keeps none: an open DuckDB file shuts other processes out."""
        if self._held is None and self.dialect.name != "duckdb":
            self._held, self._holder = self._open(), threading.get_ident()

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        """A session for one call: the held one, else a new one closed after it."""
        held = self._held
        if held is None or self._holder != threading.get_ident():
            session = self._open()
            try:
                yield session
            finally:
                session.close()
            return
        try:
            yield held
        except BaseException:
            # The connection may be what failed (a server restart): the next call opens another.
            self._held = None
            try:
                held.close()
            except Exception:
                pass
            raise

    def _columns(self, session: _Session, table: str) -> dict[str, Any]:
        """The table's columns and what each holds (empty: no such table)."""
        return {str(r[0]): self.dialect.family(r[1], r[2], r[3]) for r in session.rows(self.dialect.columns(table))}

    def _where(self) -> str:
        return f"{self.dialect.name} table {self.table}"

    def _saved(self, session: _Session, flow: str, lock: bool = False) -> Optional[Mapping[str, Any]]:
        """The state record committed for ``flow`` into this table, if any: its row in
        ``sfarrow_state``, else the flow's row in the table of 0.x."""
        d = self.dialect
        text = None
        if self._columns(session, sql.STATE_TABLE):
            if lock:
                session.execute(d.state_lock(), (flow, self.table))
            rows = session.rows(d.state_select(), (flow, self.table))
            text = rows[0][0] if rows else None
        if text is None and self._columns(session, sql.LEGACY_STATE_TABLE):
            rows = session.rows(d.legacy_state_select(), (flow,))
            text = rows[0][0] if rows else None
        return None if text is None else saved_state(text, flow, self._where())

    def load_state(self, flow: str) -> Optional[Mapping[str, Any]]:
        with self._session() as session:
            record = self._saved(session, flow)
            session.rollback()
        return record

    def deliver(self, schema: Any, batches: Iterator[Any], run: Run) -> Delivered:
        d = self.dialect
        check_run(self.mode, self.key, schema)

        def move(session: _Session, staging: str, existing: Mapping[str, Any]) -> None:
            if self.mode == "merge":
                for text in d.merge(self.table, staging, schema, self.key, deleted_column(schema)):
                    session.execute(text)
                return
            if self.mode == "overwrite" and existing:
                session.execute(d.delete_all(self.table))
            session.execute(d.insert(self.table, staging, schema))

        return self._commit(schema, schema, batches, run, move)

    def apply(self, changes: Changes, run: Run) -> Delivered:
        """Applies a batch of changes (see :class:`~sfarrow.destinations.Changes`) in one
        transaction with the flow's state: each part's columns set on the rows it matches (not
        over a newer row), whole rows inserted where absent, deleted rows removed."""
        check_merging(self.mode)
        d = self.dialect
        staged = changes.table.schema
        schema = changes.table_schema()

        def move(session: _Session, staging: str, existing: Mapping[str, Any]) -> None:
            newer = changes.time_column if changes.time_column in existing or not existing else None
            for text in d.apply(self.table, staging, schema, self.key, changes.parts, newer):
                session.execute(text)

        return self._commit(schema, staged, iter(changes.table.to_batches()), run, move)

    def present(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the table holds (none when there is no table)."""
        found: set[str] = set()
        with self._session() as session:
            if self._columns(session, self.table):
                for i in range(0, len(keys), 1000):
                    found.update(str(k) for k in session.first_column(self.dialect.present(self.table, self.key, keys[i : i + 1000])))
            session.rollback()
        return found

    def _commit(self, schema: Any, staged: Any, batches: Iterator[Any], run: Run, move: Callable[[_Session, str, Mapping[str, Any]], None]) -> Delivered:
        """Stages ``batches`` (of ``staged``: the run's ``schema`` and any columns only the
        staging table has) and commits ``move`` with the flow's state in one transaction; the
        table is created from ``schema``, or gains its new columns."""
        d = self.dialect
        self._check_names(schema.names)
        conform = Conformer(staged, d.staged)
        source = feed(batches, conform, self.mode, self.key)
        staging = f"sfarrow_staging_{uuid.uuid4().hex[:12]}"
        stateful = run.flow is not None and run.state is not None
        with self._session() as session:
            try:
                # Where DDL commits (Snowflake), every DDL comes first, outside the transaction:
                # the state table, the staging table, the target and its new columns. None of it
                # changes what a reader of the target sees.
                if not d.ddl_commits:
                    session.begin()
                existing = self._columns(session, self.table)
                check_fits(existing, schema, d.name, self.table)
                if stateful:
                    session.execute(d.state_table())
                try:
                    session.ingest(staging, conform.schema, iter(source))
                except Exception:
                    if source.error is not None:
                        raise source.error from None
                    raise
                if not existing:
                    session.execute(d.create_table(self.table, schema, self.key if self.mode == "merge" else None))
                for f in schema:
                    if existing and f.name not in existing:
                        session.execute(d.add_column(self.table, f))
                if d.ddl_commits:
                    session.begin()
                if stateful:
                    assert run.flow is not None
                    check_state(self._saved(session, run.flow, lock=True), run, self._where())
                move(session, staging, existing)
                if stateful:
                    delete, insert = d.state_write()
                    session.execute(delete, (run.flow, self.table))
                    session.execute(insert, (run.flow, self.table, run.state_text()))
                if not d.ddl_commits:
                    session.execute(d.drop_table(staging))
                session.commit()
                if d.ddl_commits:
                    session.execute(d.drop_table(staging))
            except SalesforceError:
                session.rollback()
                raise
            except Exception as e:
                session.rollback()
                if e is source.error:
                    raise
                raise refused(d.name, self.table, e) from e
            except BaseException:
                session.rollback()
                raise
        return Delivered(written=source.rows)

    async def deliver_async(self, schema: Any, batches: AsyncIterator[Any], run: Run) -> Delivered:
        return await deliver_on_thread(self.deliver, schema, batches, run)


class DuckDBDestination(DatabaseDestination):
    """A table in a DuckDB file (``":memory:"`` or an open ``duckdb`` connection also do), with
    the same modes as :class:`DatabaseDestination`. DuckDB keeps every Arrow type as it is:
    addresses stay structs, child records lists."""

    def __init__(self, path: Union[str, Any], table: str, *, mode: TableMode = "append", key: str = "Id") -> None:
        target = f"duckdb:///{os.fspath(path)}" if isinstance(path, (str, os.PathLike)) else path
        super().__init__(target, table, mode=mode, key=key, dialect="duckdb")
        self.path = path

    def __repr__(self) -> str:
        return f"DuckDBDestination({str(self.path)!r}, {self.table!r}, mode={self.mode!r})"
