"""Change events folded into what a table needs: for each record, in replay order, the columns
its events set, whether the record is gone, or that it must be read again from the org; then
the staged Arrow table a destination applies (:meth:`Folded.stage`).

A batch becomes :class:`Folded`:

- ``rows``: per record, which event last set each column (``whole``: every field, from a
  CREATE), with the time of the last change (its ``LastModifiedDate``, else the event's commit
  time);
- ``deleted``: records whose last word was a DELETE;
- ``reread``: records whose events do not carry what the table needs (UNDELETE, ``GAP_*``,
  an update of a compound field such as an address): read again from the org;
- ``since``: a ``GAP_OVERFLOW``'s commit time (the object's changes after it are read again).

Later events of a record win over earlier ones; a record read again takes its state from the
org, which already holds every change of the batch.

Only the event header goes through Python, a few values an event; the field values stay in
Arrow and are gathered by index into the staged table (``take``), so a batch of thousands of
events costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from sfarrow.destinations._base import Changes
from sfarrow.destinations._table import DELETED

if TYPE_CHECKING:
    import pyarrow as pa

#: The change event header's columns (see ``Connection.subscribe``): never table columns.
HEADER = (
    "replay_id",
    "event_id",
    "change_type",
    "entity",
    "record_ids",
    "changed_fields",
    "nulled_fields",
    "diff_fields",
    "change_origin",
    "transaction_key",
    "sequence_number",
    "commit_timestamp",
    "commit_number",
    "commit_user",
)
TIME = "LastModifiedDate"
MODSTAMP = "SystemModstamp"
#: Where a change event says when it committed (what ``SystemModstamp`` is set from: change
#: events carry no ``SystemModstamp`` of their own).
COMMITTED = "commit_timestamp"


@dataclass
class Row:
    """What a record's events set: for each column, the index of the event (in the
    :class:`Folded`'s order) whose value it takes; ``whole`` when a CREATE set every field the
    events carry; and the time of the latest change (microseconds since the epoch, UTC)."""

    values: dict[str, int]
    whole: bool
    time: Optional[int]


@dataclass
class Folded:
    rows: dict[str, Row] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    reread: set[str] = field(default_factory=set)
    since: Optional[dt.datetime] = None
    events: int = 0
    first_replay: Optional[bytes] = None
    last_replay: Optional[bytes] = None
    #: Events by change type, for the log line.
    kinds: dict[str, int] = field(default_factory=dict)
    #: The events themselves, in order: ``Row.values`` index into their concatenation.
    batches: list[Any] = field(default_factory=list)

    def latest(self) -> Optional[dt.datetime]:
        """The time of the batch's last change to a record, by the org's clock."""
        return _datetime(max((r.time for r in self.rows.values() if r.time is not None), default=None))

    def _set(self, key: str, row: Row) -> None:
        if key in self.reread:
            return
        self.deleted.discard(key)
        had = self.rows.get(key)
        if had is None or row.whole:
            self.rows[key] = row
        else:
            had.values.update(row.values)
            had.time = max((t for t in (had.time, row.time) if t is not None), default=None)

    def _delete(self, key: str) -> None:
        if key in self.reread:
            return
        self.rows.pop(key, None)
        self.deleted.add(key)

    def _again(self, key: str) -> None:
        self.rows.pop(key, None)
        self.deleted.discard(key)
        self.reread.add(key)

    def stage(self, schema: pa.Schema, compounds: Mapping[str, Mapping[str, str]], read: Optional[pa.Table] = None) -> Changes:
        """The staged table of the batch (see :class:`~sfarrow.destinations.Changes`), typed as
        ``schema`` (the table's columns, ``IsDeleted`` among them). ``read``: the records read
        again from the org (the table's fields and ``IsDeleted``), which win over the events."""
        import pyarrow as pa
        import pyarrow.compute as pc

        parts: dict[tuple[tuple[str, ...], bool], int] = {}
        every = tuple(n for n in schema.names if n != DELETED)
        found = set() if read is None else {str(k) for k in read.column("Id").to_pylist()}
        keys: list[str] = []
        part_of: list[int] = []
        # Deleted records, and those to read again that the org no longer has (purged).
        for key in [*self.deleted, *sorted(self.reread)]:
            if key not in found:
                keys.append(key)
                part_of.append(-1)
        size = len(keys) + len(self.rows)
        picks: dict[str, list[Optional[int]]] = {}
        shapes: dict[frozenset[str], tuple[str, ...]] = {}
        for key, row in self.rows.items():
            if key in found:
                continue
            at = len(keys)
            keys.append(key)
            names = frozenset(row.values)
            shape = shapes.get(names)
            if shape is None:
                shape = shapes[names] = tuple(sorted(names))
            part_of.append(parts.setdefault((shape, row.whole), len(parts)))
            for column, event in row.values.items():
                pick = picks.get(column)
                if pick is None:
                    pick = picks[column] = [None] * size
                pick[at] = event
        # The records read again: live ones are whole rows (one part), the others deletions.
        live = None if read is None or not read.num_rows else pc.invert(read.column(DELETED).fill_null(False))
        if live is not None and pc.any(live).as_py():
            parts.setdefault((every, True), len(parts))
        used = {c for columns, _ in parts for c in columns} | {"Id", DELETED}
        staged = pa.schema([f for f in schema if f.name in used]).append(pa.field(Changes.PART, pa.int32()))
        pieces = [self._event_rows(staged, compounds, keys, part_of, picks)]
        if read is not None and live is not None:
            number = pc.if_else(live, pa.scalar(parts.get((every, True), -1), pa.int32()), pa.scalar(-1, pa.int32()))
            table = read.select([n for n in staged.names if n != Changes.PART]).append_column(Changes.PART, number)
            pieces.append(table.cast(staged))
        # The parts in the order of their numbers (a dict keeps the order they were numbered in).
        return Changes(
            pa.concat_tables(pieces),
            [(list(columns), insert) for columns, insert in parts],
            TIME if TIME in used else None,
        )

    def _event_rows(
        self, staged: pa.Schema, compounds: Mapping[str, Mapping[str, str]], keys: list[str], part_of: list[int], picks: dict[str, list[Optional[int]]]
    ) -> pa.Table:
        """The rows the events set: each column's values taken from the event that set it."""
        import pyarrow as pa

        events = pa.concat_tables([pa.Table.from_batches([b]) for b in self.batches], promote_options="default") if self.batches else None
        arrays: list[Any] = []
        for f in staged:
            if f.name == "Id":
                arrays.append(pa.array(keys, pa.string()).cast(f.type))
            elif f.name == DELETED:
                arrays.append(pa.array([p == -1 for p in part_of], pa.bool_()))
            elif f.name == Changes.PART:
                arrays.append(pa.array(part_of, pa.int32()))
            else:
                pick = picks.get(f.name)  # None: no row sets this column
                source = None if events is None else _source(events, f.name, compounds)
                if pick is None or source is None:
                    arrays.append(pa.nulls(len(keys), f.type))
                else:
                    arrays.append(source.take(pa.array(pick[: len(keys)], pa.int64())).cast(f.type))
        return pa.Table.from_arrays(arrays, schema=staged)


def _source(events: pa.Table, column: str, compounds: Mapping[str, Mapping[str, str]]) -> Any:
    """The event values a table column takes: the field of its name, a compound field's
    component (``BillingCity`` from ``BillingAddress.city``), or the commit time
    (``SystemModstamp``); ``None`` when the events carry none."""
    import pyarrow.compute as pc

    names = events.schema.names
    if column == MODSTAMP and COMMITTED in names:
        return events.column(COMMITTED)
    if column in names:
        return events.column(column)
    for compound, parts in compounds.items():
        if compound not in names:
            continue
        for sub, component in parts.items():
            if component != column:
                continue
            struct = events.column(compound).combine_chunks()
            for i in range(struct.type.num_fields):
                if struct.type.field(i).name.lower() == sub.lower():
                    return pc.struct_field(struct, [i])
    return None


class Folder:
    """Folds batches of one object's change events (``/data/<Object>ChangeEvent``).

    ``columns`` are the table's columns; ``compounds`` maps a compound field (``BillingAddress``)
    to its components by their name in the event (``{"city": "BillingCity", ...}``), from the
    object's describe."""

    def __init__(self, columns: Iterable[str], compounds: Mapping[str, Mapping[str, str]]) -> None:
        self.columns = set(columns)
        self.compounds = {k: dict(v) for k, v in compounds.items()}
        self._shapes: dict[tuple[str, ...], dict[str, list[str]]] = {}

    def _targets(self, names: list[str]) -> dict[str, list[str]]:
        """For an event schema: the table columns each event field sets (a compound, its
        components), kept per schema."""
        shape = tuple(names)
        targets = self._shapes.get(shape)
        if targets is None:
            targets = {}
            for name in names:
                if name in HEADER:
                    continue
                columns = [name] if name in self.columns else []
                columns += [c for c in self.compounds.get(name, {}).values() if c in self.columns]
                if columns:
                    targets[name] = columns
            self._shapes[shape] = targets
        return targets

    def fold(self, batch: Any, into: Optional[Folded] = None) -> Folded:
        import pyarrow as pa

        changes = into if into is not None else Folded()
        names = batch.schema.names
        targets = self._targets(names)
        whole = [c for columns in targets.values() for c in columns]
        stamp = MODSTAMP in self.columns

        def column(name: str) -> list[Any]:
            return batch.column(name).to_pylist() if name in names else [None] * batch.num_rows

        def micros(name: str) -> list[Optional[int]]:
            # Times as integers: a datetime each would cost more than the rest of the fold.
            if name not in names:
                return [None] * batch.num_rows
            values = batch.column(name)
            micro: list[Optional[int]] = values.cast(pa.timestamp("us", tz=getattr(values.type, "tz", None))).cast(pa.int64()).to_pylist()
            return micro

        base = changes.events  # the index of this batch's first event among the folded ones
        changes.batches.append(batch)
        kinds, replays, record_ids = column("change_type"), column("replay_id"), column("record_ids")
        changed, nulled, committed, times = column("changed_fields"), column("nulled_fields"), micros(COMMITTED), micros(TIME)
        for i in range(batch.num_rows):
            kind = str(kinds[i] or "")
            changes.events += 1
            changes.kinds[kind] = changes.kinds.get(kind, 0) + 1
            changes.last_replay = replays[i] or changes.last_replay
            changes.first_replay = changes.first_replay or changes.last_replay
            ids = [str(k) for k in record_ids[i] or []]
            if kind == "GAP_OVERFLOW":
                at = _datetime(committed[i])
                if at is not None:
                    changes.since = at if changes.since is None else min(changes.since, at)
                continue
            if kind.startswith("GAP_") or kind == "UNDELETE":
                for key in ids:
                    changes._again(key)
                continue
            if kind == "DELETE":
                for key in ids:
                    changes._delete(key)
                continue
            event = base + i
            if kind == "CREATE":
                row = Row(dict.fromkeys(whole, event), True, times[i] or committed[i])
            elif kind == "UPDATE":
                named = [*(changed[i] or []), *(nulled[i] or [])]
                if any("." in n for n in named):
                    # A compound field's part: the table also holds the compound as a whole,
                    # which the event does not carry. Its record is read again.
                    for key in ids:
                        changes._again(key)
                    continue
                row = Row({c: event for n in named for c in targets.get(n, ())}, False, times[i] or committed[i])
            else:
                continue  # a change type this version does not know: the next reconciliation sees its effect
            if stamp and committed[i] is not None:
                row.values[MODSTAMP] = event
            for key in ids:
                # A row is the record's own (later events update it in place): one per record.
                changes._set(key, row if len(ids) == 1 else Row(dict(row.values), row.whole, row.time))
        return changes


def _datetime(micros: Optional[int]) -> Optional[dt.datetime]:
    return None if micros is None else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=micros)


def compounds_of(describe: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each compound field's components, by the name of the part in the compound's value
    (``BillingAddress``: ``{"city": "BillingCity", ...}``; ``HQ_Location__c``: ``{"latitude":
    "HQ_Location__Latitude__s", ...}``)."""
    out: dict[str, dict[str, str]] = {}
    for f in describe.get("fields") or []:
        parent = f.get("compoundFieldName")
        name = f.get("name")
        if not parent or not name or parent == name:
            continue
        stem = parent[: -len("Address")] if parent.endswith("Address") else parent.removesuffix("__c") + "__" if parent.endswith("__c") else ""
        part = name[len(stem) :] if stem and name.startswith(stem) else name
        part = part.removesuffix("__s")
        out.setdefault(parent, {})[part[:1].lower() + part[1:]] = name
    return out
