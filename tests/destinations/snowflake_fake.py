"""A stand-in for a Snowflake connection (as ADBC's Snowflake driver gives one), on DuckDB, that
behaves as Snowflake does where sfarrow's exactly-once promise depends on it:

- a name that is not quoted is stored upper-case (``sfarrow_state`` becomes ``SFARROW_STATE``,
  and a catalog lookup by the lower-case text finds nothing), while a quoted name keeps its case;
- every DDL statement (``CREATE``, ``ALTER``, ``DROP``, ``TRUNCATE``, and a bulk ingest, which
  creates its table) first commits the open transaction, then runs in a transaction of its own;
- the connection opens a transaction by itself at the first other statement (autocommit off).

Snowflake's type names are translated to DuckDB's (``NUMBER`` to ``DECIMAL``, ``VARIANT`` to
``JSON``, ...); ``fail_at`` makes the first statement containing a text raise, as a run killed
there would. fakesnow (PyPI) patches the Python connector, not ADBC, and its DuckDB keeps DDL
transactional, so it could show neither behaviour.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import duckdb
import pyarrow as pa

_DDL = ("CREATE", "ALTER", "DROP", "TRUNCATE")
_TYPES = [
    (re.compile(r"\bNUMBER\("), "DECIMAL("),
    (re.compile(r"\bVARIANT\b"), "JSON"),
    (re.compile(r"\bTIMESTAMP_TZ\b"), "TIMESTAMPTZ"),
    (re.compile(r"\bTIMESTAMP_NTZ\b"), "TIMESTAMP"),
    (re.compile(r"\bFLOAT\b"), "DOUBLE"),
    (re.compile(r"\bBINARY\b"), "BLOB"),
    (re.compile(r"\bPARSE_JSON\("), "JSON("),
]


def fold(text: str) -> str:
    """SQL as Snowflake resolves it: every unquoted word upper-case; string literals and quoted
    names as written."""
    out, i = [], 0
    for m in re.finditer(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", text):
        out.append(text[i : m.start()].upper())
        out.append(m.group(0))
        i = m.end()
    out.append(text[i:].upper())
    folded = "".join(out)
    for pattern, replacement in _TYPES:
        folded = pattern.sub(replacement, folded)
    return folded


class FakeSnowflake:
    """One connection; ``cursor()`` returns itself, as a recording of the driver's calls."""

    def __init__(self, path: str = ":memory:", fail_at: Optional[str] = None) -> None:
        self.db = duckdb.connect(path)
        self.open = False
        self.fail_at = fail_at
        self.sent: list[str] = []
        self.commits = 0
        self.rows: list[tuple[Any, ...]] = []
        self.closed = False

    # The ADBC surface sfarrow uses.
    def adbc_get_info(self) -> dict:
        return {"vendor_name": "Snowflake", "driver_name": "ADBC Snowflake Driver - Go"}

    def cursor(self) -> FakeSnowflake:
        return self

    def execute(self, text: str, params: tuple = ()) -> None:
        self.sent.append(text)
        if self.fail_at is not None and self.fail_at in text:
            raise RuntimeError(f"the run was killed at: {text[:60]}")
        sql = fold(text)
        if sql.lstrip().startswith(_DDL):
            self._implicit_commit()
            self.db.execute(sql)
            self.rows = []
            return
        self._begin()
        result = self.db.execute(sql, list(params)) if params else self.db.execute(sql)
        try:
            self.rows = result.fetchall()
        except duckdb.Error:
            self.rows = []

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.rows)

    def fetch_arrow_table(self) -> pa.Table:
        columns = list(zip(*self.rows, strict=True)) if self.rows else []
        return pa.table({f"c{i}": list(c) for i, c in enumerate(columns)}) if columns else pa.table({"c0": pa.array([], pa.string())})

    def adbc_ingest(self, table: str, data: Any, mode: str, temporary: bool) -> None:
        assert mode == "create"
        self._implicit_commit()
        if self.fail_at == "adbc_ingest":
            raise RuntimeError("the run was killed in the ingest")
        reader = pa.RecordBatchReader.from_stream(data)
        self.db.register("sfarrow_ingest", reader)
        try:
            self.db.execute(f'CREATE {"TEMP " if temporary else ""}TABLE "{table}" AS SELECT * FROM sfarrow_ingest')
        finally:
            self.db.unregister("sfarrow_ingest")

    def commit(self) -> None:
        if self.open:
            self.db.execute("COMMIT")
            self.open = False
            self.commits += 1

    def rollback(self) -> None:
        if self.open:
            self.db.execute("ROLLBACK")
            self.open = False

    def close(self) -> None:
        pass  # the test keeps the database to look at it; close_all() ends it

    def close_all(self) -> None:
        self.db.close()

    # What Snowflake does that DuckDB does not.
    def _begin(self) -> None:
        if not self.open:
            self.db.execute("BEGIN TRANSACTION")
            self.open = True

    def _implicit_commit(self) -> None:
        self.commit()

    # For the test's own look at the data (outside any run's transaction).
    def query(self, text: str) -> list[tuple[Any, ...]]:
        return self.db.execute(fold(text)).fetchall()
