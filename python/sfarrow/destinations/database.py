"""Database destinations: PostgreSQL, SQLite and Snowflake through ADBC, and DuckDB.

Every run goes the same way, in one transaction: the batches stream into a temporary staging
table (ADBC bulk ingest, or DuckDB's Arrow scan), then one statement moves them into the
target (``INSERT ... SELECT`` for append and replace, ``MERGE`` on the key for merge), and the
flow's state row is replaced. A run that fails or is killed rolls back whole: the table and
the watermark stay as the last good run left them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Optional, Union

from sfarrow._bridge import deliver_on_thread
from sfarrow._stores import connect_args, open_connection, redact, refused, vendor
from sfarrow.destinations import sql
from sfarrow.destinations._base import Delivered, Run
from sfarrow.destinations._conform import Conformer, Feed
from sfarrow.exceptions import ConfigurationError, SalesforceError

_MODES = ("append", "replace", "merge")


class _Session:
    """One connection: statements, rows, a staging ingest, and the transaction."""

    def __init__(self, conn: Any, owned: bool, dialect: sql.Dialect) -> None:
        self.conn = conn
        self.owned = owned
        self.dialect = dialect
        self.cursor = conn.cursor()

    def execute(self, text: str, params: tuple[Any, ...] = ()) -> None:
        self.cursor.execute(text, params) if params else self.cursor.execute(text)

    def rows(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.execute(text, params)
        return list(self.cursor.fetchall())

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

    def __init__(self, conn: Any, owned: bool, dialect: sql.Dialect) -> None:
        self.conn = conn
        self.owned = owned
        self.dialect = dialect
        self.cursor = conn

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


class DatabaseDestination:
    """A table in PostgreSQL (15 or later), SQLite or Snowflake, through ADBC.

    ``uri_or_connection`` is a URI (``postgresql://user:pw@host/db``, ``sqlite:///relative.db`` or ``sqlite:////absolute.db``,
    ``snowflake://user:pw@account/db/schema?warehouse=wh``) or an open ADBC connection (the
    flow then leaves it open). ``mode``:

    - ``"append"`` adds the run's rows;
    - ``"replace"`` replaces the table with them (dropped and created in the run's transaction);
    - ``"merge"`` updates rows whose ``key`` matches, inserts the others and deletes rows whose
      ``IsDeleted`` is true (a source that reads deleted records delivers them so).

    The table is created from the Arrow schema on the first run (types in
    :mod:`sfarrow.destinations.sql`); a field the object gains later becomes a new column.
    Column names keep Salesforce's case, so SQL quotes them: ``SELECT "Name" FROM account``.

    Incremental flows keep their watermark in the ``sfarrow_flow_state`` table of the same
    database, written in the run's transaction: the flow's ``state=`` is then only its name.
    """

    def __init__(
        self,
        uri_or_connection: Union[str, Any],
        table: str,
        *,
        mode: str = "append",
        key: str = "Id",
        dialect: Optional[str] = None,
    ) -> None:
        if mode not in _MODES:
            raise ConfigurationError(f'mode must be "append", "replace" or "merge", got {mode!r}')
        if not table or not all(part.strip() for part in table.split(".")) or table.count(".") > 1:
            raise ConfigurationError(f'table is "name" or "schema.name", got {table!r}')
        if not key:
            raise ConfigurationError("key names the column a merge matches on (Id)")
        self.table = table
        self.mode = mode
        self.key = key
        if isinstance(uri_or_connection, str):
            self.uri: Optional[str] = uri_or_connection
            self.connection: Any = None
            name = connect_args(uri_or_connection)[0]
        else:
            self.uri = None
            self.connection = uri_or_connection
            name = dialect or vendor(uri_or_connection)
        self.dialect = sql.dialect_named(dialect or name)

    def __repr__(self) -> str:
        where = redact(self.uri) if self.uri is not None else type(self.connection).__name__
        return f"{type(self).__name__}({where!r}, {self.table!r}, mode={self.mode!r})"

    def _open(self) -> _Session:
        kind = _DuckSession if self.dialect.name == "duckdb" else _Session
        if self.connection is not None:
            return kind(self.connection, False, self.dialect)
        assert self.uri is not None
        return kind(open_connection(self.uri)[1], True, self.dialect)

    def _columns(self, session: _Session, table: str) -> list[str]:
        return [str(r[0]) for r in session.rows(self.dialect.columns(table))]

    def load_state(self, flow: str) -> Optional[Mapping[str, Any]]:
        session = self._open()
        try:
            if not self._columns(session, sql.STATE_TABLE):
                return None
            rows = session.rows(self.dialect.state_select(), (flow,))
            session.rollback()
        finally:
            session.close()
        if not rows:
            return None
        try:
            record = json.loads(rows[0][0])
        except (TypeError, ValueError):
            raise ConfigurationError(f"the state of flow {flow!r} in {sql.STATE_TABLE} is not JSON; delete its row to read everything again") from None
        return record if isinstance(record, dict) else {"broken": record}

    def deliver(self, schema: Any, batches: Iterator[Any], run: Run) -> Delivered:
        d = self.dialect
        conform = Conformer(schema, d.staged)
        source = Feed(batches, conform)
        staging = f"sfarrow_staging_{uuid.uuid4().hex[:12]}"
        deleted = next((f.name for f in schema if f.name.lower() == "isdeleted"), None)
        if self.mode == "merge" and self.key not in schema.names:
            raise ConfigurationError(f"a merge matches rows on {self.key!r}, which the run does not have (it has {schema.names}); set key=")
        session = self._open()
        try:
            session.begin()
            existing = self._columns(session, self.table)
            try:
                session.ingest(staging, conform.schema, iter(source))
            except Exception:
                if source.error is not None:
                    raise source.error from None
                raise
            if self.mode == "merge":
                self._check_keys(session, staging)
            if self.mode == "replace" and existing:
                session.execute(d.drop_table(self.table))
                existing = []
            if not existing:
                session.execute(d.create_table(self.table, schema, self.key if self.mode == "merge" else None))
            else:
                for f in schema:
                    if f.name not in existing:
                        session.execute(d.add_column(self.table, f))
            if self.mode == "merge":
                for text in d.merge(self.table, staging, schema, self.key, deleted):
                    session.execute(text)
            else:
                session.execute(d.insert(self.table, staging, schema))
            if run.flow is not None and run.state is not None:
                self._save_state(session, run)
            session.execute(d.drop_table(staging))
            session.commit()
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
        finally:
            session.close()
        return Delivered(written=source.rows)

    async def deliver_async(self, schema: Any, batches: AsyncIterator[Any], run: Run) -> Delivered:
        return await deliver_on_thread(self.deliver, schema, batches, run)

    def _check_keys(self, session: _Session, staging: str) -> None:
        d = self.dialect
        nulls = session.rows(d.null_keys(staging, self.key))[0][0]
        if nulls:
            raise ConfigurationError(f"{nulls} rows of the run have no {self.key}: a merge needs a key on every row")
        twice = session.rows(d.duplicates(staging, self.key))
        if twice:
            shown = ", ".join(str(r[0]) for r in twice)
            raise ConfigurationError(f"the run delivers the same {self.key} more than once ({shown}): a merge needs one row per key")

    def _save_state(self, session: _Session, run: Run) -> None:
        d = self.dialect
        session.execute(d.state_table())
        # The watermark this run started from must still be the saved one: a run of the same
        # flow that committed meanwhile would otherwise be repeated or skipped.
        rows = session.rows(d.state_select(), (run.flow,))
        saved = json.loads(rows[0][0]).get("watermark") if rows else None
        if saved != run.since:
            raise ConfigurationError(f"another run of flow {run.flow!r} committed (watermark {saved}) while this one ran from {run.since}; run the flow again")
        delete, insert = d.state_write()
        session.execute(delete, (run.flow,))
        session.execute(insert, (run.flow, run.state_text()))


class DuckDBDestination(DatabaseDestination):
    """A table in a DuckDB file (``":memory:"`` or an open ``duckdb`` connection also do), with
    the same modes as :class:`DatabaseDestination`. DuckDB keeps every Arrow type as it is:
    addresses stay structs, child records lists."""

    def __init__(self, path: Union[str, Any], table: str, *, mode: str = "append", key: str = "Id") -> None:
        target = f"duckdb:///{os.fspath(path)}" if isinstance(path, (str, os.PathLike)) else path
        super().__init__(target, table, mode=mode, key=key, dialect="duckdb")
        self.path = path

    def __repr__(self) -> str:
        return f"DuckDBDestination({str(self.path)!r}, {self.table!r}, mode={self.mode!r})"
