"""Where a :class:`~sfarrow.Flow` reads from: a Salesforce object, files, a Delta table, a SQL
query (ADBC, DuckDB), or in-memory data.

Each source opens as a stream of Arrow record batches, so a flow never holds a whole dataset.
A source of your own is any object with ``open(wanted, since, until)`` (:class:`Source`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol, Union, runtime_checkable

from sfarrow import _defaults as D
from sfarrow import _sfarrow
from sfarrow._arrow import to_arrow
from sfarrow._state import watermark_literal
from sfarrow.exceptions import ConfigurationError

if TYPE_CHECKING:
    import pyarrow as pa

    from sfarrow.connection import Connection


@dataclass
class Opened:
    """A source, opened: its batches, which API (or ``"file"``, ``"memory"``) served them,
    and the columns that were read only for the flow's own use (the watermark field).

    The batches come from ``reader`` (a ``pyarrow.RecordBatchReader``) or, for an async read
    from Salesforce, from ``stream``; ``abatches`` gives either as an async iterator (a file
    or in-memory reader is pulled on a worker thread, a batch at a time)."""

    reader_schema: Any
    api: str
    internal: list[str] = field(default_factory=list)
    reader: Any = None
    stream: Any = None

    @classmethod
    def of(cls, reader: Any, api: str, internal: Optional[list[str]] = None) -> Opened:
        return cls(reader.schema, api, internal or [], reader=reader)

    async def abatches(self) -> AsyncIterator[pa.RecordBatch]:
        if self.stream is not None:
            async for b in self.stream:
                yield b
            return
        import asyncio

        while True:
            b = await asyncio.to_thread(_next_batch, self.reader)
            if b is None:
                return
            yield b


def _next_batch(reader: Any) -> Any:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


class SalesforceSource:
    """Records of one object, read with SOQL.

    ``fields=None`` reads every field the object has when the run starts (fields added later are
    picked up by the next run), or the mapped ones when the flow has a mapping. ``where`` is one
    SOQL condition (``Industry = 'Energy' OR AnnualRevenue > 1000000``), checked by sfarrow's
    SOQL parser before anything is sent. ``incremental`` names a datetime field
    (``SystemModstamp``): a flow with a state file then reads only records changed since its
    last successful run, deletions included when ``include_deleted`` is set (they arrive with
    ``IsDeleted`` true).

    Each incremental run reads up to the org's clock when it starts, less ``lag`` seconds
    (default 300): a transaction's records carry the time it started, not the time it
    committed, so a long transaction that commits during a run would otherwise land behind
    the saved watermark and never be read. Records in the last ``lag`` seconds wait for the
    next run. Set ``lag`` longer than your longest transaction; ``0`` reads right up to the
    org's clock (to the second), for tests against the emulator.

    ``bulk_page_size`` rows per Bulk result page, ``parallel`` pages in flight: together they
    bound the memory of a large read (25,000 x 4 keeps a flow of millions of rows near 300 MB).
    """

    def __init__(
        self,
        connection: Connection,
        object: str,
        *,
        fields: Optional[Sequence[str]] = None,
        where: Optional[str] = None,
        api: D.ReadApi = D.READ_API,
        include_deleted: bool = False,
        incremental: Optional[str] = None,
        lag: Union[float, dt.timedelta] = D.LAG,
        bulk_page_size: int = D.BULK_PAGE_SIZE,
        parallel: int = D.PARALLEL,
    ) -> None:
        _sfarrow.check_api(api)  # the client crate's own check, now rather than at the first run
        seconds = lag.total_seconds() if isinstance(lag, dt.timedelta) else lag
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
            raise ConfigurationError(f"lag is a number of seconds, 0 or more; got {lag!r}")
        self.connection = connection
        self.object = object
        self.fields = list(fields) if fields is not None else None
        self.where = where
        # The object name and the filter are checked now, before any call: a filter that is
        # not one SOQL condition never reaches the org.
        try:
            _sfarrow.source_query(object, ["Id"], where, None)
        except ConfigurationError as e:
            raise ConfigurationError(f"the {object} source cannot make its query: {e}") from None
        self.api = api
        self.include_deleted = include_deleted
        self.incremental = incremental
        self.lag = float(seconds)
        self.bulk_page_size = bulk_page_size
        self.parallel = parallel

    def __repr__(self) -> str:
        return f"SalesforceSource({self.object!r}, api={self.api!r}, incremental={self.incremental!r})"

    def shape(self) -> dict[str, Any]:
        """What decides which records an incremental run reads: a state file saved by one
        shape is refused by another (its watermark would skip records the new one wants)."""
        return {
            "object": self.object,
            "incremental": self.incremental,
            "where": (self.where or "").strip() or None,
            "include_deleted": self.include_deleted,
        }

    def window_end(self) -> str:
        """Where an incremental run reads up to: the org's clock now, less ``lag``."""
        return watermark_literal(self.connection.server_time() - dt.timedelta(seconds=self.lag))

    async def window_end_async(self) -> str:
        return watermark_literal(await self.connection.server_time_async() - dt.timedelta(seconds=self.lag))

    def soql(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> tuple[str, list[str]]:
        """The SOQL a run sends (records after ``since`` up to ``until``), and the columns it
        adds for the flow's own use."""
        fields = list(self.fields or wanted or self.connection.schema(self.object).names)
        return self._soql(fields, since, until)

    def _soql(self, fields: list[str], since: Optional[str], until: Optional[str]) -> tuple[str, list[str]]:
        internal = []
        lower = {f.lower() for f in fields}
        # Deletions are part of the data (IsDeleted is delivered); the watermark field is read
        # for the flow's own use unless it was asked for.
        if self.include_deleted and "isdeleted" not in lower:
            fields.append("IsDeleted")
        if self.incremental and self.incremental.lower() not in lower:
            fields.append(self.incremental)
            internal.append(self.incremental)
        if (since is not None or until is not None) and not self.incremental:
            raise ConfigurationError("a watermark needs an incremental field on the source")
        window = (self.incremental, since, until) if until is not None and self.incremental else None
        if since is not None and window is None:
            raise ConfigurationError("an incremental read needs the end of its window")
        try:
            soql = _sfarrow.source_query(self.object, fields, self.where, window)
        except ConfigurationError as e:
            raise ConfigurationError(f"the {self.object} source cannot make its query: {e}") from None
        return soql, internal

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        soql, internal = self.soql(wanted, since, until)
        reader = self.connection.query_batches(
            soql, api=self.api, include_deleted=self.include_deleted, bulk_page_size=self.bulk_page_size, parallel=self.parallel
        )
        return Opened.of(reader, _api_of(reader.schema), internal)

    async def open_async(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        fields = list(self.fields or wanted or (await self.connection.schema_async(self.object)).names)
        soql, internal = self._soql(fields, since, until)
        stream = await self.connection._stream_async(soql, self.api, self.include_deleted, D.BULK_THRESHOLD, self.bulk_page_size, self.parallel)
        schema = stream.schema
        return Opened(schema, _api_of(schema), internal, stream=stream)


def _api_of(schema: Any) -> str:
    return str((schema.metadata or {}).get(b"sfarrow.api", b"rest").decode())


class FileSource:
    """Parquet or CSV files on local disk: one file or a directory; the format comes from the
    extension unless given."""

    def __init__(self, path: Union[str, Path], *, format: Optional[str] = None) -> None:
        self.path = str(path)
        fmt = format or Path(self.path.rstrip("/")).suffix.lstrip(".").lower() or "parquet"
        if fmt not in ("parquet", "csv"):
            raise ConfigurationError(f'a file source reads "parquet" or "csv", got {fmt!r}')
        self.format = fmt

    def __repr__(self) -> str:
        return f"FileSource({self.path!r}, format={self.format!r})"

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        import pyarrow.dataset as ds

        if since is not None:
            raise ConfigurationError("file sources are not incremental")
        fmt: Any = self.format
        if self.format == "csv":
            fmt = ds.CsvFileFormat(parse_options=_csv_parse_options())
        dataset = ds.dataset(self.path, format=fmt)
        columns = [c for c in wanted if c in dataset.schema.names] if wanted else None
        return Opened.of(dataset.scanner(columns=columns).to_reader(), "file")

    async def open_async(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        return self.open(wanted, since, until)


def _csv_parse_options() -> Any:
    import pyarrow.csv as pc

    # Salesforce text holds newlines inside quoted values.
    return pc.ParseOptions(newlines_in_values=True)


class ArrowSource:
    """In-memory data: a pyarrow Table or RecordBatchReader, a polars or pandas DataFrame, or
    a list of dicts."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"ArrowSource({type(self.data).__name__})"

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        import pyarrow as pa

        if since is not None:
            raise ConfigurationError("in-memory sources are not incremental")
        data = to_arrow(self.data, "read")
        reader = pa.RecordBatchReader.from_stream(data)
        return Opened.of(reader, "memory")

    async def open_async(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        return self.open(wanted, since, until)


class DeltaSource:
    """A Delta Lake table (local or ``s3://``, ``storage_options`` as for
    :class:`~sfarrow.DeltaDestination`), at its latest version or at ``version``."""

    def __init__(self, uri: Union[str, Path], *, version: Optional[int] = None, storage_options: Optional[dict[str, Any]] = None) -> None:
        self.uri = str(uri)
        self.version = version
        self.storage_options = {k: str(v) for k, v in (storage_options or {}).items()}

    def __repr__(self) -> str:
        return f"DeltaSource({self.uri!r})"

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        from sfarrow._stores import deltalake_module

        if since is not None:
            raise ConfigurationError("Delta sources are not incremental")
        table = deltalake_module().DeltaTable(self.uri, version=self.version, storage_options=self.storage_options or None)
        dataset = table.to_pyarrow_dataset()
        columns = [c for c in wanted if c in dataset.schema.names] if wanted else None
        return Opened.of(dataset.scanner(columns=columns).to_reader(), "delta")


class DatabaseSource:
    """The rows of a SQL ``query`` over ADBC (PostgreSQL, SQLite, Snowflake) or DuckDB:
    ``uri_or_connection`` as for :class:`~sfarrow.DatabaseDestination`. Types the driver
    marks as its own (PostgreSQL's ``numeric`` arrives as text) come as their plain Arrow
    storage type."""

    def __init__(self, uri_or_connection: Union[str, Any], query: str) -> None:
        if not isinstance(query, str) or not query.strip():
            raise ConfigurationError("a database source needs a SQL query")
        self.target = uri_or_connection
        self.query = query

    def __repr__(self) -> str:
        from sfarrow._stores import redact

        where = redact(self.target) if isinstance(self.target, str) else type(self.target).__name__
        return f"DatabaseSource({where!r}, {self.query[:60]!r})"

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        import pyarrow as pa

        from sfarrow._stores import open_query

        if since is not None:
            raise ConfigurationError("database sources are not incremental")
        reader, close = open_query(self.target, self.query)
        schema = pa.schema([f.with_type(_storage(f.type)) for f in reader.schema])

        def plain() -> Iterator[pa.RecordBatch]:
            try:
                for b in batches(reader):
                    yield pa.RecordBatch.from_arrays([c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in b.columns], schema=schema)
            finally:
                close()

        return Opened.of(pa.RecordBatchReader.from_batches(schema, plain()), "database")


def _storage(t: Any) -> Any:
    import pyarrow as pa

    return t.storage_type if isinstance(t, pa.BaseExtensionType) else t


@runtime_checkable
class Source(Protocol):
    """Anything a flow can read from: one method.

    ``open(wanted, since, until)`` returns an :class:`Opened` stream of record batches.
    ``wanted`` lists the fields the flow's mapping keeps (``None``: all); ``since`` and
    ``until`` bound an incremental read, and a source that cannot read incrementally raises
    :class:`~sfarrow.ConfigurationError` when ``since`` is given. A source may also define
    ``async def open_async(...)``; without it, :meth:`Flow.run_async` opens it on a worker
    thread."""

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened: ...


def batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
