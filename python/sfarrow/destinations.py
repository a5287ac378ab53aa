"""Where a :class:`~sfarrow.Flow` writes to: files (Parquet, CSV, JSON Lines), in-memory
Arrow, or a Salesforce object.

File destinations write into a hidden staging directory and publish the files only when the
whole run succeeded, so a run that fails or is killed leaves the destination as it was. File
names carry the run's key (its starting watermark for incremental runs), so a run repeated
after a crash replaces what the crashed run may have published instead of adding to it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from sfarrow.exceptions import ConfigurationError

if TYPE_CHECKING:
    import pyarrow as pa

    from sfarrow.connection import Connection

STAGING_PREFIX = ".sfarrow-staging-"


@dataclass
class Delivered:
    """What a destination did with a run's records."""

    written: int = 0
    failed: int = 0
    bytes: int = 0
    paths: list[str] = field(default_factory=list)
    failed_path: Optional[str] = None


class FileDestination:
    """Files in a local directory, split every ``max_rows_per_file`` rows."""

    format = ""
    suffix = ""

    def __init__(self, path: Union[str, Path], *, max_rows_per_file: int = 1_000_000) -> None:
        if max_rows_per_file < 1:
            raise ConfigurationError("max_rows_per_file must be at least 1")
        self.path = Path(path)
        self.max_rows_per_file = max_rows_per_file

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def open_file(self, path: Path, schema: pa.Schema) -> Any:
        raise NotImplementedError

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str) -> Delivered:
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a run that was killed
        staging = self.path / f"{STAGING_PREFIX}{os.getpid()}"
        staging.mkdir()
        try:
            staged = self._write(staging, schema, batches, key)
            result = Delivered(written=sum(n for _, n in staged))
            for old in self.path.glob(f"part-{key}-*{self.suffix}"):
                old.unlink()
            for f, _ in staged:
                final = self.path / f.name
                result.bytes += f.stat().st_size
                os.replace(f, final)
                result.paths.append(str(final))
            return result
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _write(self, staging: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str) -> list[tuple[Path, int]]:
        files: list[tuple[Path, int]] = []
        writer: Any = None
        rows = 0
        for batch in batches:
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    path = staging / f"part-{key}-{len(files):05d}{self.suffix}"
                    writer, rows = self.open_file(path, schema), 0
                    files.append((path, 0))
                take = min(batch.num_rows - offset, self.max_rows_per_file - rows)
                writer.write_batch(batch.slice(offset, take))
                offset += take
                rows += take
                files[-1] = (files[-1][0], rows)
                if rows == self.max_rows_per_file:
                    writer.close()
                    writer = None
        if writer is not None:
            writer.close()
        return files


class ParquetDestination(FileDestination):
    """Parquet files (zstd-compressed by default)."""

    format = "parquet"
    suffix = ".parquet"

    def __init__(self, path: Union[str, Path], *, max_rows_per_file: int = 1_000_000, compression: str = "zstd") -> None:
        super().__init__(path, max_rows_per_file=max_rows_per_file)
        self.compression = compression

    def open_file(self, path: Path, schema: pa.Schema) -> Any:
        import pyarrow.parquet as pq

        return pq.ParquetWriter(path, schema, compression=self.compression)


class CsvDestination(FileDestination):
    """CSV files with a header row; structs and lists are not representable in CSV."""

    format = "csv"
    suffix = ".csv"

    def open_file(self, path: Path, schema: pa.Schema) -> Any:
        import pyarrow.csv as pc

        return pc.CSVWriter(path, schema)


class _JsonLinesWriter:
    def __init__(self, path: Path) -> None:
        self.file = open(path, "w", encoding="utf-8")

    def write_batch(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            self.file.write(json.dumps(row, default=_json_default, ensure_ascii=False))
            self.file.write("\n")

    def close(self) -> None:
        self.file.close()


def _json_default(value: Any) -> Any:
    # Dates, times and decimals as ISO text and exact digits.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class JsonLinesDestination(FileDestination):
    """JSON Lines files: one object per record; datetimes in ISO 8601, decimals as text."""

    format = "jsonl"
    suffix = ".jsonl"

    def open_file(self, path: Path, schema: pa.Schema) -> Any:
        return _JsonLinesWriter(path)


class ArrowDestination:
    """In memory: after the run, :attr:`table` holds what was delivered."""

    def __init__(self) -> None:
        self.table: Optional[pa.Table] = None

    def __repr__(self) -> str:
        return "ArrowDestination()"

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str) -> Delivered:
        import pyarrow as pa

        table = pa.Table.from_batches(list(batches), schema=schema)
        self.table = table
        return Delivered(written=table.num_rows, bytes=table.nbytes)


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
        on_error: str = "raise",
        failed_records: Optional[Union[str, Path]] = None,
        api: str = "auto",
        chunk_rows: int = 50_000,
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
        self.api = api
        self.chunk_rows = chunk_rows

    def __repr__(self) -> str:
        return f"SalesforceDestination({self.object!r}, operation={self.operation!r})"

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str) -> Delivered:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        result = Delivered()
        failed_writer: Any = None
        try:
            for chunk in _chunks(batches, self.chunk_rows):
                table = pa.Table.from_batches(chunk, schema=schema)
                outcome = self.connection.write(
                    self.operation, self.object, table, external_id=self.external_id, api=self.api, on_error=self.on_error
                )
                ok = outcome["success"]
                failed = outcome.num_rows - pc.sum(ok.cast(pa.int64())).as_py()
                result.written += outcome.num_rows - failed
                result.failed += failed
                if failed and self.failed_records is not None:
                    bad = pc.invert(ok)
                    rows = table.filter(bad)
                    errors = outcome.filter(bad)
                    for name in ("error_code", "error_message"):
                        rows = rows.append_column(f"sf__{name}", errors[name])
                    if failed_writer is None:
                        self.failed_records.parent.mkdir(parents=True, exist_ok=True)
                        failed_writer = pq.ParquetWriter(self.failed_records, rows.schema)
                        result.failed_path = str(self.failed_records)
                    failed_writer.write_table(rows)
        finally:
            if failed_writer is not None:
                failed_writer.close()
        return result


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


Destination = Union[ParquetDestination, CsvDestination, JsonLinesDestination, ArrowDestination, SalesforceDestination]
