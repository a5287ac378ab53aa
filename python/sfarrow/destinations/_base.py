"""What every destination shares: the :class:`Run` it is handed, the :class:`Delivered` it
returns, and the protocols a destination (built in or written by a user) satisfies."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class Delivered:
    """What a destination did with a run's records."""

    written: int = 0
    failed: int = 0
    bytes: int = 0
    paths: list[str] = field(default_factory=list)
    failed_path: Optional[str] = None


@dataclass(frozen=True)
class Run:
    """One run of a flow, as its destination sees it.

    ``key`` names what the run publishes (its starting watermark for an incremental run, so a
    rerun after a crash replaces the crashed run's output). For a destination that keeps the
    flow's state itself, ``flow`` names the flow and ``state`` is the record to commit with the
    data, in the same transaction (``None``: the run is not incremental, commit no state). A
    state with a ``replay_id`` (a flow applying change events) is committed only over the one
    the run began from (``replay_from``)."""

    key: str
    flow: Optional[str] = None
    since: Optional[str] = None
    watermark: Optional[str] = None
    state: Optional[Mapping[str, Any]] = None
    #: For a run that applies change events: the replay id the flow's state held when it began.
    replay_from: Optional[str] = None

    def state_text(self) -> Optional[str]:
        """``state`` as compact JSON with sorted keys (what a destination stores)."""
        return None if self.state is None else json.dumps(dict(self.state), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Changes:
    """A batch of record changes staged for a table (from change events, see
    :class:`~sfarrow.ChangeEventSource`).

    ``table`` has the key, the columns some part sets, ``IsDeleted`` (true: the row goes) and
    :attr:`PART`, the part each row belongs to (-1 for deleted rows). ``parts[i]`` is the
    columns the rows of part ``i`` set, and whether such a row is inserted when the table lacks
    it (a whole record) or only updates one that is there (a change of some fields). A row is
    never set over a newer one: where the table has ``time_column``, a row whose value there
    is older than the table's is left out."""

    table: pa.Table
    parts: list[tuple[list[str], bool]]
    time_column: Optional[str] = None

    PART = "__sfarrow_part"

    def table_schema(self) -> pa.Schema:
        """The columns the target table needs (the staged ones less :attr:`PART`)."""
        schema = self.table.schema
        return schema.remove(schema.get_field_index(self.PART))


@runtime_checkable
class Destination(Protocol):
    """Anything a flow can write to: one method.

    ``deliver`` receives the run's schema, an iterator of record batches of that schema (pull
    them one at a time: a run can be larger than memory) and the :class:`Run`. It returns what
    it did. It must leave nothing half-published when it raises: the flow then keeps its
    watermark and the next run delivers the same records again.

    A destination may also define ``async def deliver_async(schema, batches, run)`` taking an
    async iterator; without it, :meth:`Flow.run_async` runs ``deliver`` on a worker thread."""

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], run: Run) -> Delivered: ...


@runtime_checkable
class StatefulDestination(Destination, Protocol):
    """A destination that commits the flow's watermark in the same transaction as the data
    (Delta Lake, databases), so that a crash between the two cannot lose or repeat a run.

    ``load_state(flow)`` returns the record last committed for the flow (the ``run.state`` a
    ``deliver`` stored), or ``None`` before the first incremental run."""

    def load_state(self, flow: str) -> Optional[Mapping[str, Any]]: ...


@runtime_checkable
class ChangeDestination(StatefulDestination, Protocol):
    """A table that change events can be applied to: ``apply`` commits a :class:`Changes` batch
    with the flow's state in one commit, and ``present`` says which keys it holds."""

    def apply(self, changes: Changes, run: Run) -> Delivered: ...

    def present(self, keys: list[str]) -> set[str]: ...
