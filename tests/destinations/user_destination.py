"""A destination written by a user, as the docs show: a JSON file of records by Id, with the
flow's state in the same file, replaced atomically (so data and watermark commit together).
test_protocols.py type-checks this module with mypy and runs it in flows."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa

import sfarrow


class JsonTableDestination:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        try:
            saved: dict[str, Any] = json.loads(self.path.read_text())
            return saved
        except FileNotFoundError:
            return {"rows": {}, "states": {}}

    def load_state(self, flow: str) -> Optional[Mapping[str, Any]]:
        state: Optional[Mapping[str, Any]] = self._load()["states"].get(flow)
        return state

    def deliver(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch], run: sfarrow.Run) -> sfarrow.Delivered:
        table = self._load()
        written = 0
        for batch in batches:
            for row in batch.to_pylist():
                written += 1
                if row.get("IsDeleted"):
                    table["rows"].pop(row["Id"], None)
                else:
                    table["rows"][row["Id"]] = row
        if run.flow is not None and run.state is not None:
            table["states"][run.flow] = dict(run.state)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(table, f, default=str)
        os.replace(tmp, self.path)
        return sfarrow.Delivered(written=written)


class ListSource:
    """A source written by a user: rows from a list of dicts."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def open(self, wanted: Optional[Sequence[str]], since: Optional[str], until: Optional[str] = None) -> sfarrow.Opened:
        return sfarrow.Opened.of(pa.Table.from_pylist(self.rows).to_reader(), "list")


def check_types() -> None:
    """What mypy checks: both classes satisfy the protocols."""
    destination: sfarrow.StatefulDestination = JsonTableDestination(Path("x.json"))
    plain: sfarrow.Destination = destination
    source: sfarrow.Source = ListSource([])
    sfarrow.Flow(source, plain)
