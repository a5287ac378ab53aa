"""``Connection``: a session with a Salesforce org that renews itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Optional

from sfarrow import _defaults as D
from sfarrow import _sfarrow
from sfarrow._arrow import to_arrow
from sfarrow._events import Events
from sfarrow._grants import Grants, TokenInfo
from sfarrow._login import PathLike, _options, _session

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Connection", "TokenInfo"]


class Connection(Grants, Events):
    """A session with one Salesforce org.

    Make one with a classmethod for your grant: :meth:`jwt`, :meth:`refresh_token`,
    :meth:`client_credentials`, :meth:`authorization_code`, :meth:`device`, or the constructor
    for an existing session. A session that expires is renewed on the next call (one renewal
    however many calls notice at once) and the call is replayed, for every grant that can
    renew (all but an existing session).

    ``environment`` is ``"production"`` (login.salesforce.com), ``"sandbox"``
    (test.salesforce.com) or a URL: your My Domain, or an emulator's ``org.url``. Plain
    ``http://`` is refused except to loopback hosts. ``ca_file`` adds trusted CA certificates
    to the system's (corporate proxies, the emulator's HTTPS).

    Every constructor also takes ``api_version`` (default ``"58.0"``, checked against the
    org), ``ca_file``, ``request_timeout`` (seconds), ``retries`` (for transient failures),
    ``gzip`` (compressed responses; on by default) and ``api_budget``: the share of the org's
    daily API allowance this connection may use (``0.8``: stop at 80%, judged by the
    ``Sforce-Limit-Info`` header of the last answer); past it, calls raise
    :class:`ApiLimitError` before they are sent; and ``pubsub_url``, the Pub/Sub API endpoint
    for :meth:`subscribe` and :meth:`publish` (Salesforce's ``api.pubsub.salesforce.com:7443``
    by default; an emulator's ``org.pubsub_url``).
    """

    _raw: _sfarrow.Connection

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        *,
        api_version: str = D.API_VERSION,
        ca_file: Optional[PathLike] = None,
        request_timeout: float = D.REQUEST_TIMEOUT,
        retries: int = D.RETRIES,
        gzip: bool = D.GZIP,
        api_budget: Optional[float] = None,
        pubsub_url: str = D.PUBSUB_URL,
    ) -> None:
        options = _options(api_version, ca_file, request_timeout, retries, gzip, api_budget, pubsub_url)
        self._raw = _sfarrow.Connection.connect(_session(instance_url, access_token, options), False)

    @classmethod
    async def from_session_async(
        cls,
        instance_url: str,
        access_token: str,
        *,
        api_version: str = D.API_VERSION,
        ca_file: Optional[PathLike] = None,
        request_timeout: float = D.REQUEST_TIMEOUT,
        retries: int = D.RETRIES,
        gzip: bool = D.GZIP,
        api_budget: Optional[float] = None,
        pubsub_url: str = D.PUBSUB_URL,
    ) -> Connection:
        """The awaitable twin of the constructor (an existing session)."""
        options = _options(api_version, ca_file, request_timeout, retries, gzip, api_budget, pubsub_url)
        return await cls._connect_async(_session(instance_url, access_token, options))

    # -- what it is -------------------------------------------------------------------------
    @property
    def instance_url(self) -> str:
        return self._raw.instance_url

    @property
    def api_version(self) -> str:
        return self._raw.api_version

    @property
    def grant(self) -> str:
        """How the session renews: ``session`` (it cannot), ``jwt``, ``refresh_token`` or
        ``client_credentials``."""
        return self._raw.grant

    @property
    def org_id(self) -> Optional[str]:
        url = self._raw.identity_url
        return url.rstrip("/").split("/")[-2] if url else None

    @property
    def user_id(self) -> Optional[str]:
        url = self._raw.identity_url
        return url.rstrip("/").split("/")[-1] if url else None

    @property
    def api_usage(self) -> Optional[tuple[int, int]]:
        """(used, max) of the org's daily API allowance, from the last response's
        ``Sforce-Limit-Info`` header; None before the first call."""
        return self._raw.api_usage

    @property
    def renewals(self) -> int:
        """How many times the session has been renewed."""
        return self._raw.renewals

    def server_time(self) -> dt.datetime:
        """The org's clock now (UTC), from the ``Date`` header of a cheap call: whole seconds,
        rounded down, so never ahead of the org."""
        return _utc(self._raw.server_time(False))

    async def server_time_async(self) -> dt.datetime:
        return _utc(await self._raw.server_time(True))

    # -- reading ----------------------------------------------------------------------------
    def query(
        self,
        soql: str,
        *,
        api: D.ReadApi = D.READ_API,
        include_deleted: bool = False,
        bulk_threshold: int = D.BULK_THRESHOLD,
        bulk_page_size: int = D.BULK_PAGE_SIZE,
        parallel: int = D.PARALLEL,
    ) -> pa.Table:
        """Runs SOQL and returns a ``pyarrow.Table`` typed from describe, the same whichever API
        ran. ``api="auto"`` counts the records first and uses Bulk API 2.0 at or above
        ``bulk_threshold``, REST below (and for queries Bulk cannot run); ``"rest"``/``"bulk"``
        force one. The schema metadata ``sfarrow.api`` / ``sfarrow.reason`` say which ran and
        why. ``include_deleted`` reads the recycle bin too (queryAll)."""
        return _table(self._raw.query(soql, api, include_deleted, bulk_threshold, bulk_page_size, parallel, False))

    async def query_async(
        self,
        soql: str,
        *,
        api: D.ReadApi = D.READ_API,
        include_deleted: bool = False,
        bulk_threshold: int = D.BULK_THRESHOLD,
        bulk_page_size: int = D.BULK_PAGE_SIZE,
        parallel: int = D.PARALLEL,
    ) -> pa.Table:
        return _table(await self._raw.query(soql, api, include_deleted, bulk_threshold, bulk_page_size, parallel, True))

    def query_batches(
        self,
        soql: str,
        *,
        api: D.ReadApi = D.READ_API,
        include_deleted: bool = False,
        bulk_threshold: int = D.BULK_THRESHOLD,
        bulk_page_size: int = D.BULK_PAGE_SIZE,
        parallel: int = D.PARALLEL,
    ) -> pa.RecordBatchReader:
        """Like :meth:`query`, but streams: a ``pyarrow.RecordBatchReader`` whose batches arrive
        as pages are downloaded, so memory stays bounded by a few pages. A failure midway
        raises its own sfarrow exception, and Ctrl-C stops a wait within a tenth of a second."""
        import pyarrow as pa

        stream = self._raw.query_batches(soql, api, include_deleted, bulk_threshold, bulk_page_size, parallel, False)
        return pa.RecordBatchReader.from_batches(stream.schema, stream)

    async def query_batches_async(
        self,
        soql: str,
        *,
        api: D.ReadApi = D.READ_API,
        include_deleted: bool = False,
        bulk_threshold: int = D.BULK_THRESHOLD,
        bulk_page_size: int = D.BULK_PAGE_SIZE,
        parallel: int = D.PARALLEL,
    ) -> AsyncIterator[pa.RecordBatch]:
        """The async twin of :meth:`query_batches`: ``async for batch in ...`` yields
        ``pyarrow.RecordBatch`` objects as pages arrive, without holding up the event loop."""
        stream = await self._stream_async(soql, api, include_deleted, bulk_threshold, bulk_page_size, parallel)
        async for batch in stream:
            yield batch

    async def _stream_async(self, soql: str, api: str, include_deleted: bool, bulk_threshold: int, bulk_page_size: int, parallel: int) -> Any:
        """The compiled stream of an async read (its ``schema``, then ``async for``)."""
        return await self._raw.query_batches(soql, api, include_deleted, bulk_threshold, bulk_page_size, parallel, True)

    def schema(self, object: str, fields: Optional[list[str]] = None) -> pa.Schema:
        """The Arrow schema of ``object`` (all fields, or ``fields``), from describe."""
        import pyarrow as pa

        return pa.schema(self._raw.schema(object, fields, False))

    async def schema_async(self, object: str, fields: Optional[list[str]] = None) -> pa.Schema:
        import pyarrow as pa

        return pa.schema(await self._raw.schema(object, fields, True))

    # -- writing ----------------------------------------------------------------------------
    def insert(self, object: str, data: Any, **options: Any) -> pa.Table:
        """Inserts rows; see :meth:`write` for ``data`` and the options."""
        return self.write("insert", object, data, **options)

    def update(self, object: str, data: Any, **options: Any) -> pa.Table:
        """Updates rows by their ``Id`` column."""
        return self.write("update", object, data, **options)

    def upsert(self, object: str, data: Any, *, external_id: str, **options: Any) -> pa.Table:
        """Inserts or updates rows matched on ``external_id`` (an external id field, or ``"Id"``)."""
        return self.write("upsert", object, data, external_id=external_id, **options)

    def delete(self, object: str, ids_or_data: Any, *, hard: bool = False, **options: Any) -> pa.Table:
        """Deletes records: a list of ids, or data with an ``Id`` column. ``hard=True`` skips
        the recycle bin (Bulk API 2.0 ``hardDelete``)."""
        operation, data = _delete_args(ids_or_data, hard, options)
        return self.write(operation, object, data, **options)

    def write(
        self,
        operation: str,
        object: str,
        data: Any,
        *,
        external_id: Optional[str] = None,
        api: D.WriteApi = D.WRITE_API,
        on_error: D.OnError = D.ON_ERROR,
        all_or_none: bool = False,
        bulk_threshold: int = D.WRITE_BULK_THRESHOLD,
        parallel: int = D.WRITE_PARALLEL,
    ) -> pa.Table:
        """Writes ``data`` (anything with the Arrow PyCapsule interface — a pyarrow Table or
        RecordBatchReader, a polars DataFrame — a pandas DataFrame, or a list of dicts) with
        ``operation`` insert, update, upsert, delete or hardDelete.

        Columns are field names (``Name``) or parent references by external id
        (``Account.Ext_Id__c``); anything else is refused before a record is sent. A null sets
        the field to null. ``api="auto"`` uses sObject Collections below ``bulk_threshold``
        rows, Bulk API 2.0 at or above. The result is a table with exactly one row per input
        row, in input order: ``row``, ``id``, ``success``, ``created``, ``error_code``,
        ``error_message``, ``error_fields``. ``on_error="raise"`` raises :class:`WriteError`
        (carrying the table) when any row failed; ``"continue"`` returns the table.
        ``all_or_none=True`` makes a REST write of up to 200 rows atomic.
        """
        _check_on_error(on_error)
        data = to_arrow(data, "write")
        try:
            raw = self._raw.write(operation, object, data, external_id, api, all_or_none, bulk_threshold, parallel, False)
        except BaseException as e:
            _input_error(e)
            _attach_result(e)
            raise
        return _result(raw, operation, object, on_error)

    async def write_async(
        self,
        operation: str,
        object: str,
        data: Any,
        *,
        external_id: Optional[str] = None,
        api: D.WriteApi = D.WRITE_API,
        on_error: D.OnError = D.ON_ERROR,
        all_or_none: bool = False,
        bulk_threshold: int = D.WRITE_BULK_THRESHOLD,
        parallel: int = D.WRITE_PARALLEL,
    ) -> pa.Table:
        """The awaitable twin of :meth:`write`, streaming as it does (the input is pulled a
        batch at a time off the event loop)."""
        _check_on_error(on_error)
        data = to_arrow(data, "write")
        try:
            raw = await self._raw.write(operation, object, data, external_id, api, all_or_none, bulk_threshold, parallel, True)
        except BaseException as e:
            _input_error(e)
            _attach_result(e)
            raise
        return _result(raw, operation, object, on_error)

    async def insert_async(self, object: str, data: Any, **options: Any) -> pa.Table:
        return await self.write_async("insert", object, data, **options)

    async def update_async(self, object: str, data: Any, **options: Any) -> pa.Table:
        return await self.write_async("update", object, data, **options)

    async def upsert_async(self, object: str, data: Any, *, external_id: str, **options: Any) -> pa.Table:
        return await self.write_async("upsert", object, data, external_id=external_id, **options)

    async def delete_async(self, object: str, ids_or_data: Any, *, hard: bool = False, **options: Any) -> pa.Table:
        operation, data = _delete_args(ids_or_data, hard, options)
        return await self.write_async(operation, object, data, **options)

    # -- calls ------------------------------------------------------------------------------
    def limits(self) -> dict[str, Any]:
        """The org's limits (``/limits``): each key maps to ``{"Max": ..., "Remaining": ...}``."""
        result: dict[str, Any] = self._raw.request("GET", "limits", None, False)
        return result

    async def limits_async(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._raw.request("GET", "limits", None, True)
        return result

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """A raw REST call: ``path`` under the versioned API base (``"sobjects/Account/describe"``)
        or from the instance root (``"/services/data/"``). Returns the parsed JSON answer."""
        return self._raw.request(method, path, _dumps(json), False)

    async def request_async(self, method: str, path: str, json: Any = None) -> Any:
        return await self._raw.request(method, path, _dumps(json), True)

    def __repr__(self) -> str:
        return f"Connection(instance_url={self.instance_url!r}, api_version={self.api_version!r}, grant={self.grant!r})"


def _delete_args(ids_or_data: Any, hard: bool, options: dict[str, Any]) -> tuple[str, Any]:
    """A list of ids becomes rows with an ``Id`` column. (A hard delete runs on Bulk API 2.0:
    the compiled module decides that, and refuses ``api="rest"`` with it.)"""
    if isinstance(ids_or_data, (list, tuple)) and all(isinstance(i, str) for i in ids_or_data):
        ids_or_data = [{"Id": i} for i in ids_or_data]
    return ("hardDelete" if hard else "delete"), ids_or_data


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "continue"):
        from sfarrow.exceptions import ConfigurationError

        raise ConfigurationError(f'on_error must be "raise" or "continue", got {on_error!r}')


def _table(raw: Any) -> pa.Table:
    """A table from the Rust side, zero copy. Not ``pa.table()``: its pandas check imports
    pandas, half a second on first use even for users who never touch it."""
    import pyarrow as pa

    return pa.RecordBatchReader.from_stream(raw).read_all()


def _input_error(e: BaseException) -> None:
    """pyarrow failing to read the input before anything was sent is the caller's data, not
    sfarrow's: a ConfigurationError."""
    import pyarrow as pa

    if isinstance(e, (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)):
        from sfarrow.exceptions import ConfigurationError

        raise ConfigurationError(f"the input cannot be read as Arrow data (nothing was sent): {e}") from e


def _attach_result(e: BaseException) -> None:
    """A write that stopped part way raised with its result table (still the compiled
    module's) on ``result``: hand it over as a ``pyarrow.Table``."""
    raw = getattr(e, "result", None)
    if raw is not None and hasattr(raw, "__arrow_c_stream__") and type(raw).__module__ != "pyarrow.lib":
        e.result = _table(raw)  # type: ignore[attr-defined]


def _result(raw: Any, operation: str, object: str, on_error: str) -> pa.Table:
    """The result table; with ``on_error="raise"``, a :class:`WriteError` if any row failed."""
    import pyarrow.compute as pc

    from sfarrow.exceptions import WriteError

    result = _table(raw)
    failed = result.num_rows - (pc.sum(result["success"]).as_py() or 0)
    if failed and on_error == "raise":
        first = result.filter(pc.invert(result["success"])).slice(0, 1).to_pylist()[0]
        raise WriteError(
            f"{failed} of {result.num_rows} rows failed to {operation} {object}; first: row {first['row']}: "
            f"{first['error_code']}: {first['error_message']} (the result table is on this error's .result)",
            result=result,
        )
    return result


def _utc(millis: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)


def _dumps(value: Any) -> Optional[str]:
    if value is None:
        return None
    import json

    return json.dumps(value)
