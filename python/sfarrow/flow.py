"""A :class:`Flow` joins a source, a field mapping and a destination, and runs on demand or
incrementally (reading only what changed since its last successful run)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from sfarrow._bridge import deliver_on_thread
from sfarrow._state import broken, checked_watermark, run_state, state_record
from sfarrow.destinations import Delivered, Destination, Run, StatefulDestination
from sfarrow.destinations._table import DELETED
from sfarrow.exceptions import ConfigurationError
from sfarrow.sources import Opened, SalesforceSource, Source, batches
from sfarrow.sync.triggers import Clock, OnDemand, OnEvents, Schedule, Trigger

if TYPE_CHECKING:
    import pyarrow as pa

#: "Keep the replay id the state holds."
_SAVED: Any = object()


@dataclass
class FlowRun:
    """What one run did."""

    records_read: int
    records_written: int
    records_failed: int
    api: str
    bytes: int
    started: dt.datetime
    ended: dt.datetime
    paths: list[str] = field(default_factory=list)
    failed_records_path: Optional[str] = None
    #: The watermark the run started from (``None``: a full read) and the one it saved.
    since: Optional[str] = None
    watermark: Optional[str] = None

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


class State:
    """The watermark file: JSON, replaced atomically, so a killed run leaves the last good one.

    It records the source's shape (object, incremental field, filter, deleted records) beside
    the watermark: a flow reading something else refuses it rather than trust a watermark that
    was never about its records."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)

    def record(self) -> Optional[dict[str, Any]]:
        """What the file holds (``None``: no file yet); anything but a flow state (a JSON object)
        is a :class:`ConfigurationError`."""
        where = f"the flow state file {self.path}"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise broken(where, f"cannot be read ({e})") from None
        if not isinstance(data, dict):
            raise broken(where, f"holds {type(data).__name__}, not a flow state (a JSON object)")
        return data

    def save(self, watermark: Optional[str], run: FlowRun, shape: Optional[Mapping[str, Any]] = None) -> None:
        record = state_record(watermark, shape)
        record["last_run"] = {
            "ended": run.ended.isoformat(),
            "records_read": run.records_read,
            "records_written": run.records_written,
            "records_failed": run.records_failed,
            "api": run.api,
        }
        self.save_record(record)

    def save_record(self, record: Mapping[str, Any], written: Optional[int] = None) -> None:
        """Replaces the file with ``record`` (a flow of events: its replay id, ``written`` the
        run's rows)."""
        record = dict(record)
        if written is not None:
            record["last_run"] = {"ended": dt.datetime.now(dt.timezone.utc).isoformat(), "records_written": written}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class Flow:
    """Moves records from ``source`` to ``destination``.

    ``mapping`` maps source fields to destination names (``{"Name": "account_name"}``); a
    field mapped to ``None`` is dropped. With only drops, or no mapping, every field goes.
    ``state`` names the watermark file of an incremental flow (the source must name its
    ``incremental`` field): each run reads records changed since the last successful run, up
    to the org's clock less the source's ``lag``, and saves that end as the new watermark only
    after the destination has everything.

    A destination that keeps the watermark itself, in the same commit as the data (Delta Lake,
    databases: a :class:`~sfarrow.destinations.StatefulDestination`), needs no file: there
    ``state`` only names the flow (default: the source's object), and an incremental source
    makes the flow incremental. ``progress`` shows a tqdm bar (in notebooks too).
    """

    def __init__(
        self,
        source: Source,
        destination: Destination,
        *,
        mapping: Optional[Mapping[str, Optional[str]]] = None,
        state: Optional[Union[str, Path]] = None,
        progress: bool = True,
        trigger: Optional[Trigger] = None,
    ) -> None:
        self.source = source
        self.destination = destination
        self.mapping = dict(mapping or {})
        self.progress = progress
        self.trigger: Trigger = trigger if trigger is not None else OnDemand()
        if not isinstance(self.trigger, (OnDemand, Schedule, OnEvents)):
            raise ConfigurationError(f"trigger is sfarrow.OnDemand(), sfarrow.Schedule(...) or sfarrow.OnEvents(...), got {trigger!r}")
        if not isinstance(source, Source):
            raise ConfigurationError(f"{source!r} is not a source: it needs an open(wanted, since, until) method")
        if not isinstance(destination, Destination):
            raise ConfigurationError(f"{destination!r} is not a destination: it needs a deliver(schema, batches, run) method")
        incremental = isinstance(source, SalesforceSource) and bool(source.incremental)
        platform = _is_platform_source(source)
        #: The flow's name where the destination keeps its state; otherwise the state file.
        self.name: Optional[str] = None
        self.state: Optional[State] = None
        if isinstance(destination, StatefulDestination) and (incremental or platform):
            self.name = str(state) if state is not None else str(getattr(source, "object", None) or getattr(source, "name", ""))
        elif state is not None:
            if not (incremental or platform):
                raise ConfigurationError('a state file is for incremental flows: give the source incremental="SystemModstamp"')
            self.state = State(state)
        if platform:
            if self.name is None and self.state is None:
                raise ConfigurationError(
                    "platform events are delivered once by keeping the last replay id: give the flow a state= file, "
                    "or a destination that keeps it (Delta Lake, a database)"
                )
            if self.mapping or not isinstance(self.trigger, OnDemand):
                raise ConfigurationError("a flow of platform events is driven by its events and keeps their fields: leave out trigger= and mapping=")
        if _is_change_source(source):
            if self.mapping:
                raise ConfigurationError("a flow of change events keeps the object's field names: leave out mapping= (choose fields with the source's fields=)")
            if self.name is None:
                raise ConfigurationError(f"change events are applied to a table that keeps the flow's state (Delta Lake, a database), not {destination!r}")
            if not isinstance(self.trigger, OnDemand):
                raise ConfigurationError("a flow of change events is driven by its events: leave out trigger=")

    def __repr__(self) -> str:
        return f"Flow({self.source!r} -> {self.destination!r})"

    def _kept(self) -> list[str]:
        """The source fields the mapping keeps (none: every field, less the dropped ones)."""
        return [k for k, v in self.mapping.items() if v is not None]

    def _required(self) -> list[str]:
        """What the destination's mode needs whatever the mapping keeps (a merge: its key and
        IsDeleted)."""
        return list(getattr(self.destination, "required_fields", ()))

    def _selected(self) -> Optional[list[str]]:
        """The fields the source is asked for (``None``: all)."""
        kept = self._kept()
        if kept:
            # The merge key, when the mapping neither reads it nor names a column after it
            # (IsDeleted a source adds by itself, when it reads deleted records).
            named = {str(n).lower() for n in [*kept, *self.mapping.values()] if n is not None}
            kept += [n for n in self._required() if n.lower() not in named and n.lower() != DELETED.lower()]
        return kept or None

    def _project(self, schema: pa.Schema, internal: list[str]) -> tuple[list[int], pa.Schema]:
        import pyarrow as pa

        names = schema.names
        lower = {n.lower(): i for i, n in enumerate(names)}
        kept = self._kept()
        if kept:
            missing = [k for k in kept if k.lower() not in lower]
            if missing:
                raise ConfigurationError(f"the mapping names fields the source does not have: {missing}; it has {names}")
            pairs = [(lower[k.lower()], str(self.mapping[k])) for k in kept]
        else:
            dropped = {k.lower() for k in self.mapping} | {c.lower() for c in internal}
            pairs = [(i, n) for i, n in enumerate(names) if n.lower() not in dropped]
        # A mapping never hides what the destination's mode needs (a merge's key and
        # IsDeleted): without IsDeleted, deleted records would stay in the table as live rows.
        out = {n.lower() for _, n in pairs}
        for need in self._required():
            if need.lower() not in out and need.lower() in lower:
                pairs.append((lower[need.lower()], names[lower[need.lower()]]))
                out.add(need.lower())
        fields = [schema.field(i).with_name(name) for i, name in pairs]
        return [i for i, _ in pairs], pa.schema(fields, metadata=schema.metadata)

    def _saved_state(self) -> Optional[dict[str, Any]]:
        """The state last committed for this flow, in its file or its destination, checked
        against the source's shape, its watermark in the one spelling (``None``: none yet)."""
        shape = self.source.shape() if hasattr(self.source, "shape") else None
        record: Optional[Mapping[str, Any]]
        if self.state is not None:
            record, where, own = self.state.record(), f"the flow state file {self.state.path}", "give this flow its own state file"
        elif self.name is not None:
            assert isinstance(self.destination, StatefulDestination)
            record = self.destination.load_state(self.name)
            where, own = f"the state of flow {self.name!r} in {self.destination!r}", "give this flow its own name (state=)"
        else:
            return None
        if record is None:
            return None
        return {**record, "watermark": checked_watermark(record, shape, where, own)}

    def _saved_replay(self) -> Optional[str]:
        """The replay id the flow's state holds (a flow of events)."""
        replay = (self._saved_state() or {}).get("replay_id")
        return replay if isinstance(replay, str) else None

    def _window(self, until: Optional[str]) -> tuple[Optional[dict[str, Any]], Optional[str], Optional[str], Optional[str]]:
        """The source's shape, the window this run reads (after the saved watermark, up to
        ``until``: the org's clock less the lag, never behind the watermark) and the replay id
        the state holds (a flow of change events)."""
        shape = self.source.shape() if isinstance(self.source, SalesforceSource) else None
        record = self._saved_state() or {}
        since, replay = record.get("watermark"), record.get("replay_id")
        if until is not None and since is not None and until < since:
            until = since
        return shape, since, until, replay

    def _incremental(self) -> bool:
        return (self.state is not None or self.name is not None) and isinstance(self.source, SalesforceSource)

    def _run(self, key: str, shape: Any, since: Optional[str], until: Optional[str], replay: Optional[str], keep: Optional[str]) -> Run:
        """The run as the destination sees it; a flow of change events keeps the replay id
        ``keep`` (the state held ``replay``)."""
        if self.name is None or until is None:
            return Run(key, since=since, watermark=until)
        state = run_state(until, shape, keep)
        return Run(key, flow=self.name, since=since, watermark=until, state=state, replay_from=replay)

    def _mapper(self, opened: Opened) -> tuple[pa.Schema, Callable[[pa.RecordBatch], pa.RecordBatch], dict[str, int], Any]:
        import pyarrow as pa

        columns, schema = self._project(opened.reader_schema, opened.internal)
        seen = {"read": 0}
        bar = _progress_bar(self.progress, repr(self))

        def map_batch(b: pa.RecordBatch) -> pa.RecordBatch:
            seen["read"] += b.num_rows
            if bar is not None:
                bar.update(b.num_rows)
            return pa.RecordBatch.from_arrays([b.column(i) for i in columns], schema=schema)

        return schema, map_batch, seen, bar

    def _finish(
        self, opened: Opened, delivered: Delivered, seen: dict[str, int], started: dt.datetime, since: Optional[str], until: Optional[str], shape: Any
    ) -> FlowRun:
        watermark = until if until is not None else since
        run = FlowRun(
            records_read=seen["read"],
            records_written=delivered.written,
            records_failed=delivered.failed,
            api=opened.api,
            bytes=delivered.bytes,
            started=started,
            ended=dt.datetime.now(dt.timezone.utc),
            paths=delivered.paths,
            failed_records_path=delivered.failed_path,
            since=since,
            watermark=watermark,
        )
        if self.state is not None:
            self.state.save(watermark, run, shape)
        return run

    def run(self) -> FlowRun:
        """Runs the flow once; raises if it fails (the watermark then stays where it was)."""
        return self._run_once()

    def _run_once(self, replay: Any = _SAVED) -> FlowRun:
        """One run; ``replay`` is the replay id to commit with it (a flow of change events;
        by default the one saved)."""
        started = dt.datetime.now(dt.timezone.utc)
        # The window ends at the org's clock less the lag, whatever the records hold: a change
        # committed while this run reads belongs to the next window, not behind it.
        end = self.source.window_end() if self._incremental() and isinstance(self.source, SalesforceSource) else None
        shape, since, until, saved = self._window(end)
        opened: Opened = self.source.open(self._selected(), since, until)
        schema, map_batch, seen, bar = self._mapper(opened)
        run = self._run(_run_key(until is not None, since, started), shape, since, until, saved, saved if replay is _SAVED else replay)
        try:
            delivered = self.destination.deliver(schema, (map_batch(b) for b in batches(opened.reader)), run)
        finally:
            if bar is not None:
                bar.close()
        return self._finish(opened, delivered, seen, started, since, until, shape)

    def serve(self, *, clock: Optional[Clock] = None) -> int:
        """Runs the flow by its trigger until stopped, and returns how many runs it made.

        - :class:`~sfarrow.Schedule`: a run at each slot (never two at once, at most one a
          minute; slots missed while nothing served the flow are made up by one run);
        - :class:`~sfarrow.OnEvents`: a run at once, then one each time events arrive;
        - a :class:`~sfarrow.ChangeEventSource`: the events applied as they come, a commit per
          micro-batch (the count returned);
        - :class:`~sfarrow.OnDemand`: one run.

        The first SIGINT or SIGTERM stops it once the current run has committed; a second one
        aborts that run (it rolls back, leaving the last commit). ``clock`` drives a schedule
        (tests pass one that does not wait)."""
        from sfarrow.sync.serve import serve

        return serve(self, clock)

    async def serve_async(self, *, clock: Optional[Clock] = None) -> int:
        """The awaitable twin of :meth:`serve` (the flow runs on a thread of its own; cancel the
        task or send a signal to stop it)."""
        from sfarrow.sync.serve import serve_async

        return await serve_async(self, clock)

    def last_run(self) -> Optional[dt.datetime]:
        """When the flow's last committed run started (``None``: never, or unknown)."""
        if self.state is not None:
            try:
                ended = ((self.state.record() or {}).get("last_run") or {}).get("ended")
            except ConfigurationError:  # an unreadable file: no time to go by
                return None
        else:
            record = self._saved_state()
            ended = None if record is None else record.get("ran_at")
        try:
            return dt.datetime.fromisoformat(ended) if isinstance(ended, str) else None
        except ValueError:
            return None

    def status(self) -> dict[str, Any]:
        """The flow's last commit: its watermark, replay id (change events), when it ran, and how
        far behind the org's clock its watermark is (seconds)."""
        record = (self.state.record() if self.state is not None else self._saved_state()) or {}
        watermark = record.get("watermark")
        behind = None
        if watermark is not None and isinstance(self.source, SalesforceSource):
            # A flow of change events is as recent as the last change it applied; others as
            # their watermark.
            stamp = dt.datetime.strptime(watermark, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
            if isinstance(record.get("changed_at"), str):
                stamp = max(stamp, dt.datetime.fromisoformat(record["changed_at"]))
            behind = max(0.0, (self.source.connection.server_time() - stamp).total_seconds())
        last = self.last_run()
        return {
            "flow": self.name or (str(self.state.path) if self.state is not None else None),
            "watermark": watermark,
            "replay_id": record.get("replay_id"),
            "last_run": last.isoformat() if last is not None else None,
            "seconds_behind": behind,
        }

    async def run_async(self) -> FlowRun:
        """The awaitable twin of :meth:`run`. Reading from Salesforce and writing to it are
        awaited on the event loop; only file work (encoding, writing, S3 uploads) goes to a
        worker thread, a batch at a time."""
        started = dt.datetime.now(dt.timezone.utc)
        end = await self.source.window_end_async() if self._incremental() and isinstance(self.source, SalesforceSource) else None
        shape, since, until, saved = self._window(end)
        open_async = getattr(self.source, "open_async", None)
        if open_async is not None:
            opened: Opened = await open_async(self._selected(), since, until)
        else:
            opened = await asyncio.to_thread(self.source.open, self._selected(), since, until)
        schema, map_batch, seen, bar = self._mapper(opened)
        run = self._run(_run_key(until is not None, since, started), shape, since, until, saved, saved)

        async def mapped() -> AsyncIterator[pa.RecordBatch]:
            async for b in opened.abatches():
                yield map_batch(b)

        try:
            deliver_async = getattr(self.destination, "deliver_async", None)
            if deliver_async is not None:
                delivered = await deliver_async(schema, mapped(), run)
            else:
                delivered = await deliver_on_thread(self.destination.deliver, schema, mapped(), run)
        finally:
            if bar is not None:
                bar.close()
        return self._finish(opened, delivered, seen, started, since, until, shape)


def _is_change_source(source: Any) -> bool:
    from sfarrow.sync.replica import ChangeEventSource

    return isinstance(source, ChangeEventSource)


def _is_platform_source(source: Any) -> bool:
    from sfarrow.sync.platform import PlatformEventSource

    return isinstance(source, PlatformEventSource)


def _run_key(incremental: bool, since: Optional[str], started: dt.datetime) -> str:
    """Names a run's files. An incremental run is keyed by the watermark it starts from, so a
    rerun after a crash replaces the crashed run's files; other runs by their start time."""
    if incremental:
        return "since-" + (since or "start").replace(":", "").replace("-", "").replace(".", "")
    return started.strftime("%Y%m%dT%H%M%S%fZ")


def _progress_bar(enabled: bool, description: str) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(desc=description, unit=" records", unit_scale=True, leave=False)
