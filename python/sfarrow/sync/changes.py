"""Change events folded into what a table needs: for each record, in replay order, the values
its events set, whether the record is gone, or that it must be read again from the org.

A batch becomes :class:`Folded`:

- ``rows``: per record, the columns its events set (``whole``: every field, from a CREATE),
  with the time of the last change (its ``LastModifiedDate``, else the event's commit time);
- ``deleted``: records whose last word was a DELETE;
- ``reread``: records whose events do not carry what the table needs (UNDELETE, ``GAP_*``,
  an update of a compound field such as an address): read again from the org;
- ``since``: a ``GAP_OVERFLOW``'s commit time (the object's changes after it are read again).

Later events of a record win over earlier ones; a record read again takes its state from the
org, which already holds every change of the batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

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


@dataclass
class Row:
    """What a record's events set: ``values`` by column, ``whole`` when they set every field the
    events carry (a CREATE), and the time of the latest change."""

    values: dict[str, Any]
    whole: bool
    time: Optional[dt.datetime]


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

    def _set(self, key: str, row: Row) -> None:
        if key in self.reread:
            return
        self.deleted.discard(key)
        had = self.rows.get(key)
        if had is None or row.whole:
            self.rows[key] = Row(dict(row.values), row.whole, row.time)
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


class Folder:
    """Folds batches of one object's change events (``/data/<Object>ChangeEvent``).

    ``columns`` are the table's columns; ``compounds`` maps a compound field (``BillingAddress``)
    to its components by their name in the event (``{"city": "BillingCity", ...}``), from the
    object's describe."""

    def __init__(self, columns: Iterable[str], compounds: Mapping[str, Mapping[str, str]]) -> None:
        self.columns = set(columns)
        self.compounds = {k: dict(v) for k, v in compounds.items()}

    def fold(self, batch: Any, into: Optional[Folded] = None) -> Folded:
        changes = into if into is not None else Folded()
        fields = [n for n in batch.schema.names if n not in HEADER]
        for event in batch.to_pylist():
            kind = str(event.get("change_type") or "")
            changes.events += 1
            changes.kinds[kind] = changes.kinds.get(kind, 0) + 1
            changes.last_replay = event.get("replay_id") or changes.last_replay
            changes.first_replay = changes.first_replay or changes.last_replay
            ids = [str(i) for i in event.get("record_ids") or []]
            if kind == "GAP_OVERFLOW":
                at = event.get("commit_timestamp")
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
            time = event.get(TIME) or event.get("commit_timestamp")
            if kind == "CREATE":
                row = Row(self._values(event, fields), True, time)
            elif kind == "UPDATE":
                named = [*(event.get("changed_fields") or []), *(event.get("nulled_fields") or [])]
                if any("." in n for n in named):
                    # A compound field's part: the table also holds the compound as a whole,
                    # which the event does not carry. Its record is read again.
                    for key in ids:
                        changes._again(key)
                    continue
                row = Row(self._values(event, [n for n in named if n in event]), False, time)
            else:
                continue  # a change type this version does not know: the next reconciliation sees its effect
            if MODSTAMP in self.columns and event.get("commit_timestamp") is not None:
                row.values[MODSTAMP] = event["commit_timestamp"]  # change events carry no SystemModstamp
            for key in ids:
                changes._set(key, row)
        return changes

    def _values(self, event: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        """The table's columns among ``names``, with a compound's components beside it."""
        values: dict[str, Any] = {}
        for name in names:
            if name in self.columns:
                values[name] = event.get(name)
            parts = self.compounds.get(name)
            if parts:
                whole = event.get(name) or {}
                lower = {str(k).lower(): v for k, v in whole.items()}
                for sub, column in parts.items():
                    if column in self.columns:
                        values[column] = lower.get(sub.lower())
        return values


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
