"""File destinations: Parquet, CSV and JSON Lines on local disk or an object store
(``s3://bucket/prefix``).

File destinations write into a hidden staging directory inside the destination and move the
files in only when the whole run succeeded, so a run that fails or is killed leaves the
destination as it was. File names carry the run's key (its starting watermark for incremental
runs), so a run repeated after a crash replaces what the crashed run may have published
instead of adding to it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from sfarrow._bridge import deliver_on_thread
from sfarrow._stores import refused
from sfarrow.destinations._base import Delivered, Run
from sfarrow.destinations._conform import is_nested, json_default, json_text
from sfarrow.exceptions import ConfigurationError, SalesforceError

if TYPE_CHECKING:
    import pyarrow as pa


STAGING_PREFIX = ".sfarrow-staging-"


class _LocalTarget:
    """A local directory: files are written straight into a hidden staging directory inside
    it and renamed into place."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.staging = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"

    def begin(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a run that was killed
        self.staging.mkdir()
        return self.staging

    def stage(self, local: Path) -> None:
        pass

    def publish(self, names: list[str], key: str, suffix: str) -> list[tuple[str, int]]:
        for old in self.root.glob(f"part-{key}-*{suffix}"):
            old.unlink()
        published = []
        for name in names:
            final = self.root / name
            size = (self.staging / name).stat().st_size
            os.replace(self.staging / name, final)
            published.append((str(final), size))
        return published

    def cleanup(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


class _S3Target:
    """``s3://bucket/prefix``: each finished file is uploaded under a hidden staging prefix (and
    its local copy removed, so local disk holds one file at a time), then copied into place."""

    def __init__(self, url: str, options: Mapping[str, str]) -> None:
        from sfarrow._sfarrow import ObjectStore

        bucket, _, prefix = url[len("s3://") :].partition("/")
        self.bucket = f"s3://{bucket}"
        self.store = ObjectStore(self.bucket, {k: str(v) for k, v in options.items()})
        self.prefix = prefix.strip("/")
        self.staging = f"{self.prefix}/{STAGING_PREFIX}{uuid.uuid4().hex}".lstrip("/")
        self.local = Path(tempfile.mkdtemp(prefix="sfarrow-"))

    def _under(self, key: str) -> str:
        return key[len(self.prefix) :].lstrip("/") if self.prefix else key

    def begin(self) -> Path:
        for key, _ in self.store.list(self.prefix):
            if self._under(key).startswith(STAGING_PREFIX):  # left by a run that was killed
                self.store.delete(key)
        return self.local

    def stage(self, local: Path) -> None:
        self.store.put_file(str(local), f"{self.staging}/{local.name}")
        local.unlink()

    def publish(self, names: list[str], key: str, suffix: str) -> list[tuple[str, int]]:
        for old, _ in self.store.list(self.prefix):
            name = self._under(old)
            if "/" not in name and name.startswith(f"part-{key}-") and name.endswith(suffix):
                self.store.delete(old)
        sizes = {k.rsplit("/", 1)[1]: n for k, n in self.store.list(self.staging)}
        published = []
        for name in names:
            final = f"{self.prefix}/{name}".lstrip("/")
            self.store.copy(f"{self.staging}/{name}", final)
            self.store.delete(f"{self.staging}/{name}")
            published.append((f"{self.bucket}/{final}", sizes.get(name, 0)))
        return published

    def cleanup(self) -> None:
        for key, _ in self.store.list(self.staging):
            self.store.delete(key)
        shutil.rmtree(self.local, ignore_errors=True)


class FileDestination:
    """Files in a local directory or under an ``s3://bucket/prefix``, split every
    ``max_rows_per_file`` rows. ``storage_options`` configure S3 with object_store's names
    (``aws_endpoint``, ``aws_region``, ``aws_access_key_id``, ``aws_secret_access_key``,
    ``aws_allow_http``, ...); the AWS environment variables fill in the rest."""

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
        if "://" in self.path and not self.path.startswith("s3://"):
            raise ConfigurationError(f"file destinations take a local path or an s3:// URL, got {self.path!r}")
        if storage_options and not self.path.startswith("s3://"):
            raise ConfigurationError("storage_options are for s3:// destinations")
        self.max_rows_per_file = max_rows_per_file
        self.storage_options = dict(storage_options or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        """A writer with ``write_batch`` and ``close``."""
        raise NotImplementedError

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], run: Run) -> Delivered:
        key = run.key
        target: Union[_LocalTarget, _S3Target]
        if self.path.startswith("s3://"):
            target = _S3Target(self.path, self.storage_options)
        else:
            target = _LocalTarget(self.path)
        try:
            local = self._store(target.begin)
            staged = self._write(target, local, schema, batches, key)
            published = self._store(target.publish, [name for name, _ in staged], key, self.suffix)
            return Delivered(
                written=sum(rows for _, rows in staged),
                bytes=sum(size for _, size in published),
                paths=[location for location, _ in published],
            )
        finally:
            try:
                target.cleanup()
            except Exception:
                pass  # what is left in staging is removed by the next run's begin()

    def _store(self, call: Any, *args: Any) -> Any:
        """A call to the store (the disk, S3): its failure is the destination's, a
        :class:`~sfarrow.DestinationError`, whatever library raised it. Errors of the batches
        (the source's) are not caught here."""
        try:
            return call(*args)
        except ConfigurationError:
            raise
        except (SalesforceError, OSError) as e:
            raise refused("s3" if self.path.startswith("s3://") else "the file system", self.path, e) from e

    async def deliver_async(self, schema: pa.Schema, batches: AsyncIterator[pa.RecordBatch], run: Run) -> Delivered:
        """As :meth:`deliver`, from an async iterator: files are encoded and written (and
        uploaded) on a worker thread, a batch at a time, while the event loop reads."""
        return await deliver_on_thread(self.deliver, schema, batches, run)

    def _write(
        self, target: Union[_LocalTarget, _S3Target], local: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch], key: str
    ) -> list[tuple[str, int]]:
        files: list[tuple[str, int]] = []
        writer: Any = None
        rows = 0
        for batch in batches:
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    name = f"part-{key}-{len(files):05d}{self.suffix}"
                    writer, rows = self._store(self.open_file, local / name, schema), 0
                    files.append((name, 0))
                take = min(batch.num_rows - offset, self.max_rows_per_file - rows)
                self._store(writer.write_batch, batch.slice(offset, take))
                offset += take
                rows += take
                files[-1] = (files[-1][0], rows)
                if rows == self.max_rows_per_file:
                    self._store(writer.close)
                    self._store(target.stage, local / files[-1][0])
                    writer = None
        if writer is not None:
            self._store(writer.close)
            self._store(target.stage, local / files[-1][0])
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
    """CSV files with a header row. CSV has no nesting, so a struct column (an address or a
    location) becomes one column per component, named ``BillingAddress.street``,
    ``BillingAddress.city``, ...; lists (child records) and maps become JSON text."""

    format = "csv"
    suffix = ".csv"

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        return _CsvWriter(sink, schema)


def _csv_fields(name: str, t: Any) -> list[Any]:
    """The CSV columns one column becomes."""
    import pyarrow as pa

    if pa.types.is_struct(t):
        return [f for i in range(t.num_fields) for f in _csv_fields(f"{name}.{t.field(i).name}", t.field(i).type)]
    if is_nested(t):
        return [pa.field(name, pa.string())]
    return [pa.field(name, t)]


def _csv_arrays(column: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_struct(t):
        # struct_field keeps the parent's nulls (a null address gives null components).
        return [a for i in range(t.num_fields) for a in _csv_arrays(pc.struct_field(column, [i]))]
    if is_nested(t):
        return [json_text(column)]
    return [column]


class _CsvWriter:
    def __init__(self, sink: Any, schema: pa.Schema) -> None:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        self.schema = pa.schema([f for field in schema for f in _csv_fields(field.name, field.type)])
        self.writer = pcsv.CSVWriter(sink, self.schema)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        import pyarrow as pa

        arrays = [a for column in batch.columns for a in _csv_arrays(column)]
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


class _JsonLinesWriter:
    def __init__(self, sink: Any) -> None:
        raw = open(sink, "wb") if isinstance(sink, (str, Path)) else sink
        self.file = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        for row in batch.to_pylist():
            self.file.write(json.dumps(row, default=json_default, ensure_ascii=False))
            self.file.write("\n")

    def close(self) -> None:
        self.file.flush()
        self.file.detach().close()


class JsonLinesDestination(FileDestination):
    """JSON Lines files: one object per record; datetimes in ISO 8601, decimals as text;
    structs (addresses, locations) as nested objects and child records as arrays."""

    format = "jsonl"
    suffix = ".jsonl"

    def open_file(self, sink: Any, schema: pa.Schema) -> Any:
        return _JsonLinesWriter(sink)
