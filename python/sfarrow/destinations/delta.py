"""Delta Lake tables on local disk or S3, through the ``deltalake`` package (delta-rs).

Each run is one Delta commit. An incremental flow's watermark rides in that commit as an
application transaction (``txn`` action: the flow's app id, the watermark in epoch
milliseconds as its version) with the flow's state record in the commit's metadata, so data and
watermark are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, Optional, Union

from sfarrow._bridge import deliver_on_thread
from sfarrow._stores import deltalake_module, refused
from sfarrow.destinations._base import Delivered, Run
from sfarrow.destinations._conform import Conformer, Feed
from sfarrow.exceptions import ConfigurationError

_MODES = ("append", "overwrite", "merge")
_APP = "sfarrow:"
_STATE = "sfarrow.state."


def watermark_millis(watermark: str) -> int:
    """``2026-11-28T10:00:00.123Z`` as epoch milliseconds (a Delta transaction's version)."""
    stamp = dt.datetime.strptime(watermark, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return int(stamp.timestamp() * 1000 + 0.5)


def millis_watermark(millis: int) -> str:
    stamp = dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _delta_rule(t: Any) -> Optional[str]:
    import pyarrow as pa

    # Delta Lake has no time-of-day type: times are kept as text (HH:MM:SS.fff).
    return "text" if pa.types.is_time(t) else None


class DeltaDestination:
    """A Delta Lake table at ``uri`` (a local path, or ``s3://bucket/path`` with
    ``storage_options`` in delta-rs's names: ``AWS_ENDPOINT_URL``, ``AWS_REGION``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ALLOW_HTTP``, ...).

    ``mode="append"`` adds the run's rows, ``"overwrite"`` replaces the table's contents,
    ``"merge"`` updates rows whose ``key`` matches, inserts the others and deletes rows whose
    ``IsDeleted`` is true. Fields the object gains become new columns (schema evolution).
    Times of day are stored as text, Delta having no such type; timestamps as microseconds UTC.

    Incremental flows keep their watermark in the table's own log, committed with the data: the
    flow's ``state=`` is then only its name.
    """

    def __init__(
        self,
        uri: Union[str, Path],
        *,
        mode: str = "append",
        key: str = "Id",
        storage_options: Optional[Mapping[str, Any]] = None,
        partition_by: Optional[list[str]] = None,
    ) -> None:
        if mode not in _MODES:
            raise ConfigurationError(f'mode must be "append", "overwrite" or "merge", got {mode!r}')
        if not key:
            raise ConfigurationError("key names the column a merge matches on (Id)")
        self.uri = str(uri)
        if "://" in self.uri and not self.uri.startswith(("s3://", "s3a://", "file://")):
            raise ConfigurationError(f"a Delta table is a local path or an s3:// URL, got {self.uri!r}")
        self.mode = mode
        self.key = key
        self.storage_options = {k: str(v) for k, v in (storage_options or {}).items()}
        self.partition_by = partition_by

    def __repr__(self) -> str:
        return f"DeltaDestination({self.uri!r}, mode={self.mode!r})"

    def _table(self) -> Any:
        deltalake = deltalake_module()
        options = self.storage_options or None
        if not deltalake.DeltaTable.is_deltatable(self.uri, storage_options=options):
            return None
        return deltalake.DeltaTable(self.uri, storage_options=options)

    def load_state(self, flow: str) -> Optional[Mapping[str, Any]]:
        table = self._table()
        if table is None:
            return None
        version = table.transaction_version(_APP + flow)
        if version is None:
            return None
        watermark = millis_watermark(int(version))
        record: dict[str, Any] = {"watermark": watermark, "source": None}
        # The state record (what the flow reads) is in the metadata of the commit that set
        # the transaction; the transaction's version is the watermark, and wins.
        for entry in table.history():
            text = entry.get(_STATE + flow)
            if isinstance(text, str):
                try:
                    saved = json.loads(text)
                except ValueError:
                    break
                if isinstance(saved, dict):
                    record = {**saved, "watermark": watermark}
                break
        return record

    def _commit(self, run: Run, table: Any) -> Any:
        if run.flow is None or run.state is None:
            return None
        from deltalake.transaction import CommitProperties, Transaction

        app = _APP + run.flow
        # The watermark this run started from must still be the table's: a run of the same
        # flow that committed meanwhile would otherwise be repeated.
        saved = table.transaction_version(app) if table is not None else None
        if (millis_watermark(int(saved)) if saved is not None else None) != run.since:
            raise ConfigurationError(f"another run of flow {run.flow!r} committed while this one ran from {run.since}; run the flow again")
        version = watermark_millis(run.watermark) if run.watermark else 0
        return CommitProperties(app_transactions=[Transaction(app_id=app, version=version)], custom_metadata={_STATE + run.flow: run.state_text()})

    def deliver(self, schema: Any, batches: Iterator[Any], run: Run) -> Delivered:
        import pyarrow as pa

        deltalake = deltalake_module()
        conform = Conformer(schema, _delta_rule)
        deleted = next((f.name for f in schema if f.name.lower() == "isdeleted"), None)
        if self.mode == "merge" and self.key not in schema.names:
            raise ConfigurationError(f"a merge matches rows on {self.key!r}, which the run does not have (it has {schema.names}); set key=")
        table = self._table()
        if table is not None and self.mode != "overwrite":
            _check_types(pa.schema(table.schema().to_arrow()), conform.schema, self.uri)
        commit = self._commit(run, table)
        options = self.storage_options or None
        if self.mode == "merge" and table is not None:
            gone = f'coalesce(s."{deleted}", false)' if deleted else None
            feed = Feed(batches, conform, key=self.key)
            reader = pa.RecordBatchReader.from_batches(conform.schema, iter(feed))
            merger = table.merge(
                reader,
                predicate=f't."{self.key}" = s."{self.key}"',
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                commit_properties=commit,
            )
            if gone:
                merger = merger.when_matched_delete(predicate=gone)
            merger = merger.when_matched_update_all().when_not_matched_insert_all(predicate=f"NOT {gone}" if gone else None)
            _through(feed, self.uri, merger.execute)
        else:
            # A merge into a table that does not exist yet is an append of the rows that
            # are not deleted.
            merging = self.mode == "merge"
            feed = Feed(batches, conform, key=self.key if merging else None, drop=deleted if merging else None)
            reader = pa.RecordBatchReader.from_batches(conform.schema, iter(feed))
            overwrite = self.mode == "overwrite"
            _through(
                feed,
                self.uri,
                deltalake.write_deltalake,
                self.uri,
                reader,
                mode="overwrite" if overwrite else "append",
                schema_mode="overwrite" if overwrite else "merge",
                partition_by=self.partition_by,
                storage_options=options,
                commit_properties=commit,
            )
        return Delivered(written=feed.rows)

    async def deliver_async(self, schema: Any, batches: AsyncIterator[Any], run: Run) -> Delivered:
        return await deliver_on_thread(self.deliver, schema, batches, run)


def _kind(t: Any) -> str:
    """A type's family: what a column may hold across runs (units and widths may differ)."""
    import pyarrow as pa

    for name, test in (
        ("bool", pa.types.is_boolean),
        ("integer", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("decimal", pa.types.is_decimal),
        ("text", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x) or pa.types.is_string_view(x)),
        ("binary", lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x)),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("struct", pa.types.is_struct),
        ("list", lambda x: pa.types.is_list(x) or pa.types.is_large_list(x)),
        ("null", pa.types.is_null),
    ):
        if test(t):
            return name
    return str(t)


def _check_types(table: Any, run: Any, where: str) -> None:
    """Refuses a run whose column has another type than the table's: delta-rs would cast it
    (an integer becomes a date) rather than fail."""
    from sfarrow.exceptions import DestinationError

    for field in run:
        if field.name in table.names:
            had, has = _kind(table.field(field.name).type), _kind(field.type)
            if had != has and "null" not in (had, has):
                raise DestinationError(
                    f"delta refused the run into {where}: column {field.name} holds {table.field(field.name).type} in the table and "
                    f'{field.type} in the run; nothing of it was committed (rename the column, or write with mode="overwrite")',
                    error_code="delta",
                )


def _through(feed: Feed, where: str, write: Any, *args: Any, **kwargs: Any) -> None:
    """``write(*args, **kwargs)``, raising the feed's own error when the batches failed, and
    the store's as a :class:`~sfarrow.DestinationError`."""
    try:
        write(*args, **kwargs)
    except Exception as e:
        if feed.error is not None:
            raise feed.error from None
        raise refused("delta", where, e) from e
