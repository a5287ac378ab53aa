"""Where a :class:`~sfarrow.Flow` writes to: files (Parquet, CSV, JSON Lines) on local disk or
an object store (``s3://bucket/prefix``), in-memory Arrow, or a Salesforce object.

File destinations write into a hidden staging directory inside the destination and move the
files in only when the whole run succeeded, so a run that fails or is killed leaves the
destination as it was. File names carry the run's key (its starting watermark for incremental
runs), so a run repeated after a crash replaces what the crashed run may have published
instead of adding to it.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator, Mapping
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


def filesystem(location: Union[str, Path], options: Optional[Mapping[str, Any]] = None) -> tuple[Any, str, str]:
    """The pyarrow filesystem of a local path or an ``s3://`` URL, the path within it, and the
    prefix that turns such a path back into a user-facing location. ``options`` go to
    ``pyarrow.fs.S3FileSystem`` (``endpoint_override``, ``region``, ``access_key``,
    ``secret_key``, ``scheme``, ...); without them the AWS environment and config are used."""
    import pyarrow.fs as pafs

    text = str(location)
    if text.startswith("s3://"):
        bucket_and_key = text[len("s3://") :].strip("/")
        fs = pafs.S3FileSystem(**dict(options or {})) if options else pafs.FileSystem.from_uri(text)[0]
        return fs, bucket_and_key, "s3://"
    if "://" in text:
        raise ConfigurationError(f"file destinations take a local path or an s3:// URL, got {text!r}")
    if options:
        raise ConfigurationError("storage options are for s3:// destinations")
    return pafs.LocalFileSystem(), str(Path(text).absolute()), ""


class FileDestination:
    """Files in a directory or under an object-store prefix, split every ``max_rows_per_file``
    rows."""

    format = ""
    suffix = ""

    def __init__(
        self,
        path: Union[str, Path],
        *,
        max_rows_per_file: int = 1_000_000,
        storage_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if max_rows_per_file < 1:
            raise ConfigurationError("max_rows_per_file must be at least 1")
        self.path = str(path)
        self.max_rows_per_file = max_rows_per_file
        self.storage_options = dict(storage_options or {})
        filesystem(self.path, self.storage_options)  # fail now on a bad location, not mid-run

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        """A writer with ``write_batch`` and ``close`` over a path or an output stream."""
        raise NotImplementedError

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str) -> Delivered:
        import pyarrow.fs as pafs

        fs, root, scheme = filesystem(self.path, self.storage_options)
        fs.create_dir(root, recursive=True)
        listing = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
        for stale in listing:
            if stale.base_name.startswith(STAGING_PREFIX):  # left by a run that was killed
                fs.delete_dir(stale.path)
        staging = f"{root}/{STAGING_PREFIX}{uuid.uuid4().hex}"
        fs.create_dir(staging, recursive=True)
        try:
            staged = self._write(fs, staging, schema, batches, key)
            result = Delivered(written=sum(rows for _, rows in staged))
            for old in listing:
                if old.base_name.startswith(f"part-{key}-") and old.base_name.endswith(self.suffix):
                    fs.delete_file(old.path)
            for name, _ in staged:
                final = f"{root}/{name}"
                result.bytes += fs.get_file_info(f"{staging}/{name}").size or 0
                fs.move(f"{staging}/{name}", final)
                result.paths.append(scheme + final)
            return result
        finally:
            try:
                fs.delete_dir(staging)
            except (FileNotFoundError, OSError):
                pass

    def _write(self, fs: Any, staging: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str) -> list[tuple[str, int]]:
        files: list[tuple[str, int]] = []
        writer: Any = None
        stream: Any = None
        rows = 0

        def close() -> None:
            writer.close()
            if not stream.closed:
                stream.close()

        for batch in batches:
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    name = f"part-{key}-{len(files):05d}{self.suffix}"
                    stream = fs.open_output_stream(f"{staging}/{name}")
                    writer, rows = self.open_file(stream, schema), 0
                    files.append((name, 0))
                take = min(batch.num_rows - offset, self.max_rows_per_file - rows)
                writer.write_batch(batch.slice(offset, take))
                offset += take
                rows += take
                files[-1] = (files[-1][0], rows)
                if rows == self.max_rows_per_file:
                    close()
                    writer = None
        if writer is not None:
            close()
        return files


class ParquetDestination(FileDestination):
    """Parquet files (zstd-compressed by default)."""

    format = "parquet"
    suffix = ".parquet"

    def __init__(
        self,
        path: Union[str, Path],
        *,
        max_rows_per_file: int = 1_000_000,
        compression: str = "zstd",
        storage_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(path, max_rows_per_file=max_rows_per_file, storage_options=storage_options)
        self.compression = compression

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        import pyarrow.parquet as pq

        return pq.ParquetWriter(sink, schema, compression=self.compression)


class CsvDestination(FileDestination):
    """CSV files with a header row; structs and lists are not representable in CSV."""

    format = "csv"
    suffix = ".csv"

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        import pyarrow.csv as pc

        return pc.CSVWriter(sink, schema)


class _JsonLinesWriter:
    def __init__(self, sink: Any) -> None:
        raw = open(sink, "wb") if isinstance(sink, (str, Path)) else sink
        self.file = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            self.file.write(json.dumps(row, default=_json_default, ensure_ascii=False))
            self.file.write("\n")

    def close(self) -> None:
        self.file.flush()
        self.file.detach().close()


def _json_default(value: Any) -> Any:
    # Dates, times and decimals as ISO text and exact digits.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class JsonLinesDestination(FileDestination):
    """JSON Lines files: one object per record; datetimes in ISO 8601, decimals as text."""

    format = "jsonl"
    suffix = ".jsonl"

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        return _JsonLinesWriter(sink)


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
