"""Delta Lake tables on local disk or S3, through the ``deltalake`` package (delta-rs).

Each run is one Delta commit. An incremental flow's watermark rides in that commit as an
application transaction (``txn`` action: the flow's app id, the watermark in epoch
milliseconds as its version) with the flow's state record in the commit's metadata, so data and
watermark are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, Optional, Union

from sfarrow._bridge import deliver_on_thread
from sfarrow._duration import seconds_of
from sfarrow._stores import deltalake_module, refused
from sfarrow.destinations._base import Changes, Delivered, Run
from sfarrow.destinations._conform import Conformer
from sfarrow.destinations._table import (
    Feed,
    TableMode,
    check_fits,
    check_merging,
    check_run,
    check_state,
    checked_key,
    deleted_column,
    family,
    feed,
    needed_fields,
    saved_state,
    table_mode,
)
from sfarrow.destinations.sql import literal, not_older, quote
from sfarrow.exceptions import ConfigurationError, SalesforceError

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
    flow's ``state=`` is then only its name. A flow that keeps running (``flow.serve()``) commits
    often: every ``maintain_after`` commits or ``maintain_every`` (default: 500 commits, or an
    hour) the table is compacted and checkpointed, and with ``vacuum_retention`` (``"7d"``) old
    files are vacuumed (see :meth:`maintain`). A table that does not exist yet is created by a
    commit of its own, empty, before the run's: two first runs at once then meet as two commits
    to one table, and the second is refused.
    """

    def __init__(
        self,
        uri: Union[str, Path],
        *,
        mode: TableMode = "append",
        key: str = "Id",
        storage_options: Optional[Mapping[str, Any]] = None,
        partition_by: Optional[list[str]] = None,
        maintain_every: Optional[Union[float, str, dt.timedelta]] = "1h",
        maintain_after: Optional[int] = 500,
        vacuum_retention: Optional[Union[float, str, dt.timedelta]] = None,
    ) -> None:
        self.mode = table_mode(mode, "DeltaDestination")
        self.maintain_every = None if maintain_every is None else seconds_of(maintain_every, "maintain_every")
        if maintain_after is not None and (not isinstance(maintain_after, int) or isinstance(maintain_after, bool) or maintain_after < 1):
            raise ConfigurationError(f"maintain_after is a number of commits, 1 or more (or None), got {maintain_after!r}")
        self.maintain_after = maintain_after
        self.vacuum_retention = None if vacuum_retention is None else seconds_of(vacuum_retention, "vacuum_retention")
        self._commits = 0
        self._maintained = time.monotonic()
        self.key = checked_key(key)
        self.uri = str(uri)
        if "://" in self.uri and not self.uri.startswith(("s3://", "s3a://", "file://")):
            raise ConfigurationError(f"a Delta table is a local path or an s3:// URL, got {self.uri!r}")
        self.storage_options = {k: str(v) for k, v in (storage_options or {}).items()}
        self.partition_by = partition_by
        #: The thread that holds the table open (see :meth:`hold`), and the table it keeps.
        self._holder: Optional[int] = None
        self._kept: Any = None

    def __repr__(self) -> str:
        return f"DeltaDestination({self.uri!r}, mode={self.mode!r})"

    @property
    def required_fields(self) -> list[str]:
        """What a run needs whatever the flow's mapping keeps (a merge: its key, IsDeleted)."""
        return needed_fields(self.mode, self.key)

    def _table(self) -> Any:
        mine = self._holder == threading.get_ident()
        if mine and self._kept is not None:
            # Brought up to date by the commits since (another writer's too): no replay of the
            # log since its last checkpoint, which costs more with every small commit.
            self._kept.update_incremental()
            return self._kept
        deltalake = deltalake_module()
        options = self.storage_options or None
        table = None
        if deltalake.DeltaTable.is_deltatable(self.uri, storage_options=options):
            table = deltalake.DeltaTable(self.uri, storage_options=options)
        if mine:
            self._kept = table
        return table

    def hold(self) -> None:
        """Keeps the table open for the calls that follow on this thread, until :meth:`release`:
        a served flow's micro-batches then read only the commits made since the last one."""
        self._holder, self._kept = threading.get_ident(), None

    def release(self) -> None:
        self._holder = self._kept = None

    def _created(self, schema: Any) -> Any:
        """The table, created empty by a commit of its own when there is none. Creation is the
        first commit of the log: of two runs creating it at once, one creates it and the other
        finds it, and their runs are then two commits to the same table."""
        deltalake = deltalake_module()
        try:
            deltalake.write_deltalake(
                self.uri,
                schema.empty_table(),
                mode="error",
                partition_by=self.partition_by,
                storage_options=self.storage_options or None,
            )
        except Exception:
            if self._table() is None:
                raise
        return self._table()

    def load_state(self, flow: str) -> Optional[Mapping[str, Any]]:
        table = self._table()
        return None if table is None else _state_of(table, flow, self.uri)

    def _commit(self, run: Run, table: Any) -> Any:
        if run.flow is None or run.state is None:
            return None
        from deltalake.transaction import CommitProperties, Transaction

        check_state(_state_of(table, run.flow, self.uri), run, f"Delta table {self.uri}")
        version = watermark_millis(run.watermark) if run.watermark else 0
        return CommitProperties(app_transactions=[Transaction(app_id=_APP + run.flow, version=version)], custom_metadata={_STATE + run.flow: run.state_text()})

    def deliver(self, schema: Any, batches: Iterator[Any], run: Run) -> Delivered:
        import pyarrow as pa

        deltalake = deltalake_module()
        check_run(self.mode, self.key, schema)
        conform = Conformer(schema, _delta_rule)
        table = self._table()
        if table is not None and self.mode != "overwrite":
            check_fits({f.name: family(f.type) for f in pa.schema(table.schema().to_arrow())}, conform.schema, "delta", self.uri)
        if table is None:
            table = _through(None, self.uri, self._created, conform.schema)
        commit = self._commit(run, table)
        source = feed(batches, conform, self.mode, self.key)
        reader = pa.RecordBatchReader.from_batches(conform.schema, iter(source))
        if self.mode == "merge":
            deleted = deleted_column(schema)
            gone = f"coalesce(s.{quote(deleted)}, false)" if deleted else None
            merger = table.merge(
                reader,
                predicate=f"t.{quote(self.key)} = s.{quote(self.key)}",
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                commit_properties=commit,
            )
            if gone:
                merger = merger.when_matched_delete(predicate=gone)
            merger = merger.when_matched_update_all().when_not_matched_insert_all(predicate=f"NOT {gone}" if gone else None)
            _merge(source, self.uri, merger, table, conform.schema, commit)
        else:
            overwrite = self.mode == "overwrite"
            _through(
                source,
                self.uri,
                deltalake.write_deltalake,
                table,
                reader,
                mode="overwrite" if overwrite else "append",
                schema_mode="overwrite" if overwrite else "merge",
                partition_by=self.partition_by,
                storage_options=self.storage_options or None,
                commit_properties=commit,
            )
        return Delivered(written=source.rows)

    async def deliver_async(self, schema: Any, batches: AsyncIterator[Any], run: Run) -> Delivered:
        return await deliver_on_thread(self.deliver, schema, batches, run)

    def apply(self, changes: Changes, run: Run) -> Delivered:
        """Applies a batch of changes (see :class:`~sfarrow.destinations.Changes`) as one merge,
        one commit with the flow's state: deleted rows removed, each part's columns set on the
        rows it matches (not over a newer row), whole rows inserted where absent."""
        import pyarrow as pa
        import pyarrow.compute as pc

        check_merging(self.mode)
        schema = changes.table_schema()
        target = Conformer(schema, _delta_rule).schema
        conform = Conformer(changes.table.schema, _delta_rule)
        table = self._table()
        if table is None:
            table = _through(None, self.uri, self._created, target)
        existing = {f.name: family(f.type) for f in pa.schema(table.schema().to_arrow())}
        check_fits(existing, conform.schema, "delta", self.uri)
        commit = self._commit(run, table)
        source = feed(iter(changes.table.to_batches()), conform, "merge", self.key)
        reader = pa.RecordBatchReader.from_batches(conform.schema, iter(source))
        k, part = quote(self.key), quote(Changes.PART)
        time = changes.time_column
        guard = f" AND {not_older(time)}" if time is not None and time in existing else ""
        new = [f.name for f in schema if f.name not in existing]
        match = f"t.{k} = s.{k}"
        keys = pc.min_max(changes.table.column(self.key))
        if isinstance(keys["min"].as_py(), str):
            # The same rows, said so that delta-rs can skip the files whose key statistics lie
            # outside the batch's keys: a small batch then reads a file or two, not the table
            # (thousands of small files between compactions).
            match += f" AND t.{k} >= {literal(keys['min'].as_py())} AND t.{k} <= {literal(keys['max'].as_py())}"
        merger = table.merge(reader, predicate=match, source_alias="s", target_alias="t", merge_schema=bool(new), commit_properties=commit)
        merger = merger.when_matched_delete(predicate=f"s.{part} = -1")
        for i, (columns, _) in enumerate(changes.parts):
            sets = {quote(c): f"s.{quote(c)}" for c in columns if c != self.key}
            if sets:
                merger = merger.when_matched_update(updates=sets, predicate=f"s.{part} = {i}{guard}")
        whole = [str(i) for i, (_, insert) in enumerate(changes.parts) if insert]
        if whole:
            # A part's columns, the others null: every part that inserts is a whole record.
            merger = merger.when_not_matched_insert(
                updates={quote(f.name): f"s.{quote(f.name)}" for f in schema}, predicate=f"s.{part} IN ({', '.join(whole)})"
            )
        _merge(source, self.uri, merger, table, target, commit)
        return Delivered(written=source.rows)

    def maybe_maintain(self) -> bool:
        """After a commit of a flow that keeps running: :meth:`maintain` once ``maintain_after``
        commits or ``maintain_every`` seconds have passed since the last time. True if it ran."""
        self._commits += 1
        due = (self.maintain_after is not None and self._commits >= self.maintain_after) or (
            self.maintain_every is not None and time.monotonic() - self._maintained >= self.maintain_every
        )
        if due:
            self.maintain()
        return due

    def maintain(self) -> dict[str, Any]:
        """Keeps a table written by many small commits quick to read: compacts its small files
        into large ones (a commit of its own, rows unchanged), writes a checkpoint of the log,
        and, with ``vacuum_retention``, deletes the files no version younger than that needs
        (time travel further back then fails). Returns what compaction did."""
        self._commits = 0
        self._maintained = time.monotonic()
        table = self._table()
        if table is None:
            return {}
        done: dict[str, Any] = _through(None, self.uri, table.optimize.compact)
        _through(None, self.uri, table.create_checkpoint)
        if self.vacuum_retention is not None:
            hours = max(0, int(self.vacuum_retention // 3600))
            # The retention is the user's choice, shorter than delta-rs's week if they say so.
            _through(None, self.uri, table.vacuum, retention_hours=hours, dry_run=False, enforce_retention_duration=False)
        return done

    def present(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the table holds (none when there is no table)."""
        import pyarrow as pa

        table = self._table()
        if table is None or not keys:
            return set()
        from deltalake import QueryBuilder

        # delta-rs's own engine: it skips the files whose key statistics rule the keys out.
        found: set[str] = set()
        for i in range(0, len(keys), 1000):
            listed = ", ".join(literal(k) for k in keys[i : i + 1000])
            result = QueryBuilder().register("t", table).execute(f"SELECT {quote(self.key)} FROM t WHERE {quote(self.key)} IN ({listed})")
            for batch in result:
                found.update(str(v) for v in pa.array(batch.column(0)).to_pylist())
        return found


def _state_of(table: Any, flow: str, where: str) -> Optional[Mapping[str, Any]]:
    """The flow's state in the table's log: the watermark is the version of the flow's
    application transaction; the rest of the record is in the metadata of the commit that set
    it (the transaction's version wins)."""
    version = table.transaction_version(_APP + flow)
    if version is None:
        return None
    watermark = millis_watermark(int(version))
    # The newest commits first: a flow that commits often finds its record at once, and a table
    # with a long log is not read whole for every commit.
    for limit in (16, None):
        for entry in table.history(limit):
            text = entry.get(_STATE + flow)
            if isinstance(text, str):
                return {**saved_state(text, flow, f"Delta table {where}"), "watermark": watermark}
    return {"watermark": watermark, "source": None}


def _merge(feed: Feed, where: str, merger: Any, table: Any, schema: Any, commit: Any) -> None:
    """Runs a merge; when it changed nothing (every row already there, or older than the
    table's), delta-rs makes no commit, so the flow's state is committed alone, by an append
    of no rows: the state must move with every batch, or the next one would find it behind."""
    before = table.version()
    _through(feed, where, merger.execute)
    if commit is None:
        return
    table.update_incremental()
    if table.version() == before:
        deltalake = deltalake_module()
        _through(None, where, deltalake.write_deltalake, table, schema.empty_table(), mode="append", schema_mode="merge", commit_properties=commit)


def _through(feed: Optional[Feed], where: str, write: Any, *args: Any, **kwargs: Any) -> Any:
    """``write(*args, **kwargs)``, raising the feed's own error when the batches failed, and
    the store's as a :class:`~sfarrow.DestinationError`."""
    try:
        return write(*args, **kwargs)
    except Exception as e:
        if feed is not None and feed.error is not None:
            raise feed.error from None
        if isinstance(e, SalesforceError):
            raise
        raise refused("delta", where, e) from e
