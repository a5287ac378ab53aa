"""A table kept in step with an object by its change events: :class:`ChangeEventSource`, and the
loop that applies the events (:class:`EventSync`, run by ``Flow.serve``).

The loop, in order:

1. Subscribe. With a replay id committed by an earlier run, the stream resumes right after
   it. Without one (a first run), or when the bus no longer keeps it (``ReplayIdError``),
   subscribe from the latest event *first*, then sweep: read the records changed since the
   last committed watermark (all of them on a first run) and merge them. Events that arrive
   during the sweep wait in the stream's queue, so no change falls between the two.
2. Fold the events into micro-batches (a batch closes at ``batch_events`` events or when its
   first event is ``batch_age`` seconds old) and apply each in one commit with the replay id
   of its last event. An event older than the row already in the table does not overwrite it
   (rows carry ``LastModifiedDate``), so the sweep and the events may overlap.
3. Every ``reconcile_every`` seconds, sweep again from the watermark: it brings back what
   events cannot carry (formula fields, records purged from the recycle bin, an event lost on
   the bus). ``EventSync.repaired`` counts the records the sweeps read.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from sfarrow import _defaults as D
from sfarrow import _sfarrow
from sfarrow._duration import seconds_of
from sfarrow._state import run_state, watermark_literal
from sfarrow.destinations._base import ChangeDestination, Changes, Run
from sfarrow.destinations._table import DELETED
from sfarrow.exceptions import ConfigurationError, DestinationError, ReplayIdError, SalesforceError
from sfarrow.sources import Opened, SalesforceSource
from sfarrow.sync.changes import Folded, Folder, compounds_of
from sfarrow.sync.stream import END, Subscription, check_batching

if TYPE_CHECKING:
    import pyarrow as pa

    from sfarrow.connection import Connection
    from sfarrow.flow import Flow, FlowRun

log = logging.getLogger("sfarrow.sync")

#: Ids per SOQL ``IN`` list when records are read again (well under SOQL's length limit).
_IDS_PER_QUERY = 500
#: How far before a GAP_OVERFLOW's commit its object's changes are read again (seconds).
_OVERFLOW_MARGIN = 300.0
#: Seconds between the tries of a batch the table refused (then the refusal stands).
_STORE_RETRIES = (1.0, 5.0, 15.0)
#: The Tooling API object of the entities selected for change data capture.
_MEMBERS = "PlatformEventChannelMember"
#: Salesforce's last date: a window that ends there has no end.
_NO_END = "4000-12-31T00:00:00.000Z"


def change_topic(object: str) -> str:
    """The change event channel of an object: ``Account`` -> ``/data/AccountChangeEvent``,
    ``Invoice__c`` -> ``/data/Invoice__ChangeEvent``."""
    return f"/data/{object[:-1] if object.endswith('__c') else object}ChangeEvent"


def check_selected(conn: Connection, object: str) -> None:
    """Refuses an object the org publishes no change events for: subscribing would succeed and
    nothing would ever come. The Tooling API lists the entities selected for change data
    capture; a user who may not read it (no "View Setup") gets a warning, not a refusal."""
    entity = change_topic(object).removeprefix("/data/")
    try:
        answer = conn.request("GET", "tooling/query?q=" + urllib.parse.quote(f"SELECT SelectedEntity FROM {_MEMBERS}"))
    except SalesforceError as e:
        log.warning("sfarrow sync: could not check that %s publishes change events (%s); continuing", object, e)
        return
    selected = {str(r.get("SelectedEntity")) for r in (answer or {}).get("records") or []}
    if entity not in selected and not (answer or {}).get("nextRecordsUrl"):
        raise ConfigurationError(
            f"the org publishes no change events for {object}: select it for change data capture "
            f"(Setup, Change Data Capture, or a {_MEMBERS} of the ChangeEvents channel), or read it on a schedule "
            f'instead (SalesforceSource(..., incremental="SystemModstamp") with Schedule("rate(5 minutes)"))'
        )


class ChangeEventSource(SalesforceSource):
    """The records of one object, kept current by its change events (``/data/<Object>ChangeEvent``,
    which the org must publish: Setup, Change Data Capture).

    In a flow into a merging table destination (Delta Lake, PostgreSQL, SQLite, DuckDB,
    Snowflake), ``flow.serve()`` applies the events as they come, each micro-batch in one commit
    with its replay id (see :mod:`sfarrow.sync.replica`); ``flow.run()`` is one sweep (an
    incremental read of the records changed since the last one). ``fields=None`` keeps every
    field. ``lag`` is the sweeps' (see :class:`SalesforceSource`). A micro-batch closes at
    ``batch_events`` events or ``batch_age`` seconds after its first event: the first bounds
    a commit's size, the second how far behind the org the table falls. ``reconcile_every``
    (``"1h"``, ``"15m"``, seconds, or a ``timedelta``; ``None``: never) sweeps on a schedule of
    its own.
    """

    def __init__(
        self,
        connection: Connection,
        object: str,
        *,
        fields: Optional[list[str]] = None,
        api: D.ReadApi = D.READ_API,
        lag: Union[float, dt.timedelta] = D.LAG,
        batch_events: int = 1000,
        batch_age: float = 1.0,
        reconcile_every: Optional[Union[float, str, dt.timedelta]] = None,
    ) -> None:
        super().__init__(connection, object, fields=fields, api=api, include_deleted=True, incremental="SystemModstamp", lag=lag)
        self.topic = change_topic(object)
        check_batching(batch_events, batch_age)
        every = None if reconcile_every is None else seconds_of(reconcile_every, "reconcile_every")
        self.batch_events = batch_events
        self.batch_age = float(batch_age)
        self.reconcile_every = None if every is None else float(every)

    def __repr__(self) -> str:
        return f"ChangeEventSource({self.object!r}, topic={self.topic!r})"

    def shape(self) -> dict[str, Any]:
        return {**super().shape(), "events": self.topic}

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        # A sweep reads every record as it is now, up to no end: the events cover what comes
        # after, and a newer version read early is never overwritten by an older event. The
        # watermark it saves is still the window's end (the org's clock less the lag).
        return super().open(wanted, since, _NO_END if since is not None else None)

    async def open_async(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> Opened:
        return await super().open_async(wanted, since, _NO_END if since is not None else None)


class EventSync:
    """Applies a :class:`ChangeEventSource`'s events to the flow's table until ``stop`` is set
    (see the module's description). Made by ``Flow.serve``."""

    def __init__(self, flow: Flow, stop: threading.Event, clock: Any = time.monotonic) -> None:
        source = flow.source
        destination = flow.destination
        assert isinstance(source, ChangeEventSource) and flow.name is not None
        if not isinstance(destination, ChangeDestination) or getattr(destination, "mode", None) != "merge":
            raise ConfigurationError(
                f"change events are applied to a merging table: Delta Lake or a database destination with mode='merge', not {destination!r}"
            )
        self.flow = flow
        self.source = source
        self.destination = destination
        self.name = flow.name
        self.stop = stop
        self.clock = clock
        self.subscription = Subscription(source.connection, source.topic)
        #: The replay id of the last applied event (hex), and the watermark of the last sweep.
        self.replay_id: Optional[str] = None
        self.watermark: Optional[str] = None
        self.batches = 0
        #: Records the sweeps read (the first sweep's included).
        self.repaired = 0

    # -- the table's shape ------------------------------------------------------------------
    def _prepare(self) -> None:
        conn = self.source.connection
        self.schema: pa.Schema = conn.schema(self.source.object, self.source.fields)
        if DELETED not in self.schema.names:
            import pyarrow as pa

            self.schema = self.schema.append(pa.field(DELETED, pa.bool_()))
        describe = conn.request("GET", f"sobjects/{self.source.object}/describe")
        self.folder = Folder(self.schema.names, compounds_of(describe))
        check_selected(conn, self.source.object)

    def close(self) -> None:
        self.subscription.close()

    # -- sweeps -------------------------------------------------------------------------------
    def sweep(self) -> FlowRun:
        """An incremental run from the last watermark through the same merge, keeping the
        replay id where it is."""
        run = self.flow._run_once(replay=self.replay_id)
        self._maintain()
        self.watermark = run.watermark
        self.repaired += run.records_read
        log.info("sfarrow sync %s: swept %d records changed since %s", self.name, run.records_read, run.since or "the start")
        return run

    # -- the loop -----------------------------------------------------------------------------
    def serve(self) -> None:
        self._prepare()
        record = self.flow._saved_state()
        self.watermark = None if record is None else record.get("watermark")
        saved = None if record is None else record.get("replay_id")
        try:
            if saved is not None and self.subscription.start(saved):
                self.replay_id = saved
            else:
                self._start_over(saved)
            self._loop()
        finally:
            self.close()

    def _start_over(self, lost: Optional[str]) -> None:
        """Subscribes from the latest event, then sweeps from the watermark: the events from
        now on wait in the queue while the sweep reads, so no change falls between the two.
        ``lost``: the replay id the bus no longer keeps (``None``: there was none)."""
        if lost is not None:
            log.warning("sfarrow sync %s: the bus no longer keeps replay id %s; sweeping from %s", self.name, lost, self.watermark or "the start")
        if not self.subscription.start("latest"):
            raise ReplayIdError(f"the subscription to {self.source.topic} from the latest event was refused")
        self.replay_id = None
        self.sweep()

    def _loop(self) -> None:
        pending: Optional[Folded] = None
        opened = 0.0
        every = self.source.reconcile_every
        next_sweep = self.clock() + every if every else None
        while not self.stop.is_set():
            now = self.clock()
            wait = 0.5
            if pending is not None:
                wait = min(wait, max(0.0, opened + self.source.batch_age - now))
            if next_sweep is not None:
                wait = min(wait, max(0.0, next_sweep - now))
            item = self.subscription.get(wait)
            if item is END:
                break
            if isinstance(item, ReplayIdError):
                # The bus no longer keeps where the stream resumes (a long outage): what came
                # before is applied, and the events it lost are swept.
                if pending is not None:
                    self.apply(pending)
                    pending = None
                self._start_over(self.replay_id)
                continue
            if isinstance(item, BaseException):
                raise item
            if item is not None and item.num_rows:
                if pending is None:
                    pending, opened = Folded(), self.clock()
                self.folder.fold(item, pending)
            now = self.clock()
            if pending is not None and (pending.events >= self.source.batch_events or now >= opened + self.source.batch_age):
                self.apply(pending)
                pending = None
            if next_sweep is not None and now >= next_sweep:
                if pending is not None:
                    self.apply(pending)
                    pending = None
                self.sweep()
                next_sweep = self.clock() + (every or 0)
        # Stopping: what has arrived is applied, so a restart has less to replay.
        for item in self.subscription.ready():
            if item.num_rows:
                pending = self.folder.fold(item, pending)
        if pending is not None:
            self.apply(pending)

    # -- applying a micro-batch -----------------------------------------------------------------
    def apply(self, folded: Folded) -> int:
        """Commits one micro-batch; returns the rows it staged."""
        started = time.perf_counter()
        patched = [k for k, r in folded.rows.items() if not r.whole]
        if patched:
            have = self.destination.present(patched)
            for key in patched:
                if key not in have:
                    # A change to a record the table lacks: read it whole.
                    folded._again(key)
        changes = folded.stage(self.schema, self.folder.compounds, self._read_again(folded))
        replay = folded.last_replay.hex() if folded.last_replay else self.replay_id
        state = run_state(self.watermark, self.source.shape(), replay)
        latest = folded.latest()
        if latest is not None:
            state["changed_at"] = latest.astimezone(dt.timezone.utc).isoformat()  # the last change applied, by the org's clock
        run = Run(f"events-{replay}", flow=self.name, since=self.watermark, watermark=self.watermark, state=state, replay_from=self.replay_id)
        self._commit(changes, run)
        self.replay_id = replay
        self._maintain()
        self.batches += 1
        behind = None if latest is None else max(0.0, (dt.datetime.now(dt.timezone.utc) - latest).total_seconds())
        log.info(
            "sfarrow sync %s: applied %d events (%s) as %d rows in %.3f s; replay ids %s to %s; %s behind the org",
            self.name,
            folded.events,
            ", ".join(f"{n} {k}" for k, n in sorted(folded.kinds.items())),
            changes.table.num_rows,
            time.perf_counter() - started,
            folded.first_replay.hex() if folded.first_replay else None,
            replay,
            "?" if behind is None else f"{behind:.3f} s",
        )
        return int(changes.table.num_rows)

    def _maintain(self) -> None:
        """After each commit: the table's own upkeep, when it has some (Delta compaction)."""
        maintain = getattr(self.destination, "maybe_maintain", None)
        if maintain is not None and maintain():
            log.info("sfarrow sync %s: compacted and checkpointed the table", self.name)

    def _commit(self, changes: Changes, run: Run) -> None:
        """``destination.apply``, tried again when the store refused it for a reason of its
        own (a lock, a restart): the batch rolled back, so applying it again is safe."""
        for wait in (*_STORE_RETRIES, None):
            try:
                self.destination.apply(changes, run)
                return
            except DestinationError as e:
                if wait is None or self.stop.is_set():
                    raise
                log.warning("sfarrow sync %s: the table refused a batch (%s); trying again in %.0f s", self.name, e, wait)
                if self.stop.wait(wait):
                    raise

    def _read_again(self, folded: Folded) -> Optional[pa.Table]:
        """The records ``folded`` names for reading again, as the org holds them now (deleted
        ones with ``IsDeleted`` set; purged ones are absent), each once; ``None``: none to read."""
        import pyarrow as pa
        import pyarrow.compute as pc

        conn = self.source.connection
        fields = [n for n in self.schema.names if n != DELETED]
        wanted = sorted(folded.reread)
        conditions = [f"Id IN ({', '.join(_literal(k) for k in wanted[i : i + _IDS_PER_QUERY])})" for i in range(0, len(wanted), _IDS_PER_QUERY)]
        if folded.since is not None:
            # A transaction's records are stamped when it began, and the overflow event when it
            # committed: read back from well before (the lag, and at least five minutes).
            since = folded.since - dt.timedelta(seconds=max(self.source.lag, _OVERFLOW_MARGIN))
            conditions.append(f"SystemModstamp >= {watermark_literal(since)}")
        tables: list[pa.Table] = []
        for where in conditions:
            soql = _sfarrow.source_query(self.source.object, [*fields, DELETED], where, None)
            tables.append(conn.query(soql, include_deleted=True).select(self.schema.names).cast(self.schema))
        if folded.since is not None and len(tables) > 1:
            # The overflow's read (the last) can meet records the Id lists read already.
            seen = pa.concat_tables(tables[:-1]).column("Id")
            tables[-1] = tables[-1].filter(pc.invert(pc.is_in(tables[-1].column("Id"), value_set=seen)))
        return pa.concat_tables(tables) if tables else None


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
