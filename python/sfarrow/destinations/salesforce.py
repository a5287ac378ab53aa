"""Destinations in memory (:class:`ArrowDestination`) and in a Salesforce org
(:class:`SalesforceDestination`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from sfarrow import _defaults as D
from sfarrow import _sfarrow
from sfarrow.destinations._base import Delivered, Run
from sfarrow.exceptions import ConfigurationError

if TYPE_CHECKING:
    import pyarrow as pa

    from sfarrow.connection import Connection


class ArrowDestination:
    """In memory: after the run, :attr:`table` holds what was delivered."""

    def __init__(self) -> None:
        self.table: Optional[pa.Table] = None

    def __repr__(self) -> str:
        return "ArrowDestination()"

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], run: Run) -> Delivered:
        import pyarrow as pa

        table = pa.Table.from_batches(list(batches), schema=schema)
        self.table = table
        return Delivered(written=table.num_rows, bytes=table.nbytes)

    async def deliver_async(self, schema: pa.Schema, batches: AsyncIterator[pa.RecordBatch], run: Run) -> Delivered:
        return self.deliver(schema, iter([b async for b in batches]), run)


class SalesforceDestination:
    """A Salesforce object: ``operation`` insert, update, upsert (on ``external_id``) or delete.

    Records go in chunks of ``chunk_rows`` (each chunk picks REST or Bulk API 2.0 as
    :meth:`Connection.write` does). ``on_error="raise"`` fails the run at the first chunk with
    a failed record (chunks already sent stay written); ``"continue"`` carries on and, with
    ``failed_records`` set, writes each failed input row with its error to that Parquet file.
    """

    def __init__(
        self,
        connection: Connection,
        object: str,
        *,
        operation: str = "insert",
        external_id: Optional[str] = None,
        on_error: D.OnError = D.ON_ERROR,
        failed_records: Optional[Union[str, Path]] = None,
        api: D.WriteApi = D.WRITE_API,
        chunk_rows: int = D.DESTINATION_CHUNK_ROWS,
    ) -> None:
        if operation not in ("insert", "update", "upsert", "delete"):
            raise ConfigurationError(f"operation must be insert, update, upsert or delete, got {operation!r}")
        if operation == "upsert" and not external_id:
            raise ConfigurationError("an upsert needs external_id (an external id field, or Id)")
        if on_error not in ("raise", "continue"):
            raise ConfigurationError(f'on_error must be "raise" or "continue", got {on_error!r}')
        self.connection = connection
        self.object = object
        self.operation = operation
        self.external_id = external_id
        self.on_error = on_error
        self.failed_records = Path(failed_records) if failed_records is not None else None
        _sfarrow.check_api(api)
        self.api = api
        self.chunk_rows = chunk_rows

    def __repr__(self) -> str:
        return f"SalesforceDestination({self.object!r}, operation={self.operation!r})"

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], run: Run) -> Delivered:
        import pyarrow as pa

        tally = _Tally(self.failed_records)
        try:
            for chunk in _chunks(batches, self.chunk_rows):
                table = pa.Table.from_batches(chunk, schema=schema)
                outcome = self.connection.write(self.operation, self.object, table, external_id=self.external_id, api=self.api, on_error=self.on_error)
                tally.add(table, outcome)
        finally:
            tally.close()
        return tally.result

    async def deliver_async(self, schema: pa.Schema, batches: AsyncIterator[pa.RecordBatch], run: Run) -> Delivered:
        """As :meth:`deliver`, each chunk written with :meth:`Connection.write_async`."""

        tally = _Tally(self.failed_records)
        try:
            chunk: list[pa.RecordBatch] = []
            n = 0
            async for b in batches:
                while b.num_rows:
                    take = min(b.num_rows, self.chunk_rows - n)
                    chunk.append(b.slice(0, take))
                    b = b.slice(take)
                    n += take
                    if n == self.chunk_rows:
                        await self._write_async(schema, chunk, tally)
                        chunk, n = [], 0
            if chunk:
                await self._write_async(schema, chunk, tally)
        finally:
            tally.close()
        return tally.result

    async def _write_async(self, schema: pa.Schema, chunk: list[pa.RecordBatch], tally: _Tally) -> None:
        import pyarrow as pa

        table = pa.Table.from_batches(chunk, schema=schema)
        outcome = await self.connection.write_async(self.operation, self.object, table, external_id=self.external_id, api=self.api, on_error=self.on_error)
        tally.add(table, outcome)


class _Tally:
    """What a Salesforce destination wrote and failed, with the failed rows (and their errors)
    written to ``failed_records`` as they come."""

    def __init__(self, failed_records: Optional[Path]) -> None:
        self.result = Delivered()
        self.failed_records = failed_records
        self.writer: Any = None

    def add(self, table: pa.Table, outcome: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        ok = outcome["success"]
        failed = outcome.num_rows - pc.sum(ok.cast(pa.int64())).as_py()
        self.result.written += outcome.num_rows - failed
        self.result.failed += failed
        if failed and self.failed_records is not None:
            bad = pc.invert(ok)
            rows = table.filter(bad)
            errors = outcome.filter(bad)
            for name in ("error_code", "error_message"):
                rows = rows.append_column(f"sf__{name}", errors[name])
            if self.writer is None:
                self.failed_records.parent.mkdir(parents=True, exist_ok=True)
                self.writer = pq.ParquetWriter(self.failed_records, rows.schema)
                self.result.failed_path = str(self.failed_records)
            self.writer.write_table(rows)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    chunk: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        while b.num_rows:
            take = min(b.num_rows, rows - n)
            chunk.append(b.slice(0, take))
            b = b.slice(take)
            n += take
            if n == rows:
                yield chunk
                chunk, n = [], 0
    if chunk:
        yield chunk
