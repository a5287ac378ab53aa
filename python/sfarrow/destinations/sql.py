"""The SQL each database is sent: column types from Arrow types, the merge of a staging table
into the target, and the flow-state table. Pure text, so that a test can check the SQL of a
database it cannot reach (Snowflake).

Column types, by Arrow type (the Arrow type comes from the one Salesforce-to-Arrow table):

=============== ================ ================== ============== ==============
Arrow           PostgreSQL       SQLite             DuckDB         Snowflake
=============== ================ ================== ============== ==============
bool            BOOLEAN          INTEGER (0/1)      BOOLEAN        BOOLEAN
int32 / int64   INTEGER / BIGINT INTEGER            INTEGER/BIGINT NUMBER(10/19,0)
float64         DOUBLE PRECISION REAL               DOUBLE         FLOAT
decimal(p, s)   NUMERIC(p, s)    TEXT (the digits)  DECIMAL(p, s)  NUMBER(p, s)
string          TEXT             TEXT               VARCHAR        VARCHAR
date            DATE             TEXT (YYYY-MM-DD)  DATE           DATE
timestamp (UTC) TIMESTAMPTZ      TEXT (ISO 8601 Z)  TIMESTAMPTZ    TIMESTAMP_TZ
time            TIME             TEXT (HH:MM:SS.f)  TIME           TIME
struct, list    JSONB            TEXT (JSON)        STRUCT, LIST   VARIANT
binary          BYTEA            BLOB               BLOB           BINARY
=============== ================ ================== ============== ==============
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from sfarrow.destinations._base import Changes
from sfarrow.destinations._conform import is_nested

#: Where flows keep their state: a row per flow and target table. The name is always quoted,
#: so that every database (Snowflake upper-cases names that are not) stores it as written.
STATE_TABLE = "sfarrow_state"
#: The table of 0.x, keyed by flow alone: read when a flow has no row in ``STATE_TABLE`` yet.
LEGACY_STATE_TABLE = "sfarrow_flow_state"
#: The staging column that says which part of a batch of changes a row belongs to.
PART = Changes.PART


def quote(name: str) -> str:
    """An identifier, quoted: Salesforce names keep their case (``"NumberOfEmployees"``)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string literal (for catalog queries, which take no parameters everywhere)."""
    return "'" + text.replace("'", "''") + "'"


def not_older(column: str) -> str:
    """The condition that the staged row ``s`` is not older than the table's row ``t`` by
    ``column`` (a row without a time is never held back)."""
    c = quote(column)
    return f"(t.{c} IS NULL OR s.{c} IS NULL OR s.{c} >= t.{c})"


def table_name(name: str) -> str:
    """``schema.table`` or ``table``, each part quoted."""
    return ".".join(quote(part) for part in name.split("."))


class Dialect:
    """PostgreSQL (15 or later, for ``MERGE``), the base the others adjust."""

    name = "postgresql"
    #: How a column travels in the staging table, by Arrow type (see ``_conform``).
    json_type = "JSONB"
    #: Whether a DDL statement commits the open transaction (Snowflake): then every DDL of a
    #: run is done before the transaction that holds its data and state.
    ddl_commits = False
    #: The longest name the database keeps whole, in bytes (``None``: no limit that matters).
    max_name_bytes: Optional[int] = None

    def staged(self, t: Any) -> Optional[str]:
        import pyarrow as pa

        if pa.types.is_struct(t) or is_nested(t):
            return "json"
        if pa.types.is_time32(t):
            return "time64"
        return None

    def column_type(self, t: Any) -> str:
        import pyarrow as pa

        if pa.types.is_boolean(t):
            return "BOOLEAN"
        if pa.types.is_integer(t):
            return "INTEGER" if t.bit_width <= 32 and pa.types.is_signed_integer(t) else "BIGINT"
        if pa.types.is_floating(t):
            return "DOUBLE PRECISION"
        if pa.types.is_decimal(t):
            return f"NUMERIC({t.precision}, {t.scale})"
        if pa.types.is_date(t):
            return "DATE"
        if pa.types.is_timestamp(t):
            return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        if pa.types.is_time(t):
            return "TIME"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "BYTEA"
        if pa.types.is_struct(t) or is_nested(t):
            return self.json_type
        return "TEXT"

    def cast(self, column: str, t: Any) -> str:
        """The staging column ``s.column`` as the target column's type."""
        import pyarrow as pa

        expr = f"s.{quote(column)}"
        if pa.types.is_struct(t) or is_nested(t):
            return f"CAST({expr} AS {self.json_type})"
        return expr

    def truthy(self, column: str) -> str:
        return f"COALESCE(s.{quote(column)}, FALSE)"

    def create_table(self, table: str, schema: Any, key: Optional[str] = None) -> str:
        """The table for a run's schema; with ``key`` (a merge's) that column is its primary
        key, so a small merge into a large table finds its rows by index."""
        columns = [f"{quote(f.name)} {self.column_type(f.type)}" for f in schema]
        if key is not None:
            columns.append(f"PRIMARY KEY ({quote(key)})")
        return f"CREATE TABLE {table_name(table)} ({', '.join(columns)})"

    def add_column(self, table: str, field: Any) -> str:
        return f"ALTER TABLE {table_name(table)} ADD COLUMN {quote(field.name)} {self.column_type(field.type)}"

    def insert(self, table: str, staging: str, schema: Any, where: Optional[str] = None) -> str:
        names = ", ".join(quote(f.name) for f in schema)
        values = ", ".join(self.cast(f.name, f.type) for f in schema)
        tail = f" WHERE {where}" if where else ""
        return f"INSERT INTO {table_name(table)} ({names}) SELECT {values} FROM {quote(staging)} AS s{tail}"

    def merge(self, table: str, staging: str, schema: Any, key: str, deleted: Optional[str]) -> list[str]:
        """One ``MERGE``: matched rows updated (or deleted when ``deleted`` is true), new rows
        inserted unless deleted."""
        target = table_name(table)
        on = f"t.{quote(key)} = s.{quote(key)}"
        sets = ", ".join(f"{quote(f.name)} = {self.cast(f.name, f.type)}" for f in schema if f.name != key)
        names = ", ".join(quote(f.name) for f in schema)
        values = ", ".join(self.cast(f.name, f.type) for f in schema)
        gone = self.truthy(deleted) if deleted else None
        parts = [f"MERGE INTO {target} AS t USING {quote(staging)} AS s ON {on}"]
        if gone:
            parts.append(f"WHEN MATCHED AND {gone} THEN DELETE")
        if sets:
            parts.append(f"WHEN MATCHED THEN UPDATE SET {sets}")
        parts.append(f"WHEN NOT MATCHED{f' AND NOT {gone}' if gone else ''} THEN INSERT ({names}) VALUES ({values})")
        return [" ".join(parts)]

    def apply(self, table: str, staging: str, schema: Any, key: str, parts: Sequence[tuple[Sequence[str], bool]], newer: Optional[str]) -> list[str]:
        """A batch of changes (see ``Changes``): deleted rows removed, then each part's columns
        set on the rows it matches (unless the table's ``newer`` column holds a later time),
        then its whole rows inserted where the table lacks them. Plain ``UPDATE ... FROM`` and
        ``INSERT ... SELECT``, the same on every database."""
        target = table_name(table)
        k = quote(key)
        part = quote(PART)
        out = [f"DELETE FROM {target} WHERE {k} IN (SELECT s.{k} FROM {quote(staging)} AS s WHERE s.{part} = -1)"]
        types = {f.name: f.type for f in schema}
        guard = f" AND {not_older(newer)}" if newer else ""
        for i, (columns, insert) in enumerate(parts):
            sets = ", ".join(f"{quote(c)} = {self.cast(c, types[c])}" for c in columns if c != key)
            if sets:
                out.append(f"UPDATE {target} AS t SET {sets} FROM {quote(staging)} AS s WHERE t.{k} = s.{k} AND s.{part} = {i}{guard}")
            if insert:
                fields = [f for f in schema if f.name in columns or f.name == key]
                absent = f"s.{part} = {i} AND NOT EXISTS (SELECT 1 FROM {target} AS t WHERE t.{k} = s.{k})"
                out.append(self.insert(table, staging, fields, absent))
        return out

    def present(self, table: str, key: str, keys: Sequence[str]) -> str:
        """The query for which of ``keys`` the table holds."""
        return f"SELECT {quote(key)} FROM {table_name(table)} WHERE {quote(key)} IN ({', '.join(literal(k) for k in keys)})"

    def param(self, i: int) -> str:
        return "?"

    def state_table(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {quote(STATE_TABLE)} (flow VARCHAR(255) NOT NULL, target VARCHAR(1024) NOT NULL, state TEXT NOT NULL, PRIMARY KEY (flow, target))"

    def state_select(self) -> str:
        return f"SELECT state FROM {quote(STATE_TABLE)} WHERE flow = {self.param(1)} AND target = {self.param(2)}"

    def state_lock(self) -> str:
        """Takes the flow's row for the rest of the transaction (a no-op update), so that the
        watermark read next is the last committed one and no other run commits past it."""
        return f"UPDATE {quote(STATE_TABLE)} SET state = state WHERE flow = {self.param(1)} AND target = {self.param(2)}"

    def legacy_state_select(self) -> str:
        return f"SELECT state FROM {LEGACY_STATE_TABLE} WHERE flow = {self.param(1)}"

    def state_write(self) -> list[str]:
        """Replace the flow's row (delete, then insert: the same on every database)."""
        where = f"flow = {self.param(1)} AND target = {self.param(2)}"
        return [
            f"DELETE FROM {quote(STATE_TABLE)} WHERE {where}",
            f"INSERT INTO {quote(STATE_TABLE)} (flow, target, state) VALUES ({self.param(1)}, {self.param(2)}, {self.param(3)})",
        ]

    def delete_all(self, table: str) -> str:
        return f"DELETE FROM {table_name(table)}"

    def drop_table(self, table: str) -> str:
        return f"DROP TABLE IF EXISTS {table_name(table)}"

    def columns(self, table: str) -> str:
        """The query listing a table's columns with their types: name, type, precision, scale
        (no rows: no such table). Names are matched as written, as they are quoted everywhere."""
        schema, _, name = table.rpartition(".")
        where = f"table_schema = {literal(schema)}" if schema else "table_schema = current_schema()"
        return (
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
            f"WHERE {where} AND table_name = {literal(name)} ORDER BY ordinal_position"
        )

    def family(self, data_type: Any, precision: Any, scale: Any) -> Optional[tuple[Any, ...]]:
        """What a column of this catalog type holds, in the terms of ``_table.family`` (``None``:
        a type sfarrow does not check)."""
        t = str(data_type or "").lower()
        if t.startswith(("numeric", "decimal", "number")):
            if precision is None:
                return None
            return ("number", int(precision), int(scale or 0))
        for prefix, digits in (("smallint", 5), ("integer", 10), ("int", 10), ("bigint", 19), ("hugeint", 38)):
            if t == prefix:
                return ("number", digits, 0)
        if t in ("boolean", "bool"):
            return ("bool",)
        if t in ("double precision", "real", "double", "float", "float4", "float8"):
            return ("float",)
        if t in ("text", "varchar") or t.startswith(("character", "varchar", "string")):
            return ("text",)
        if t == "date":
            return ("date",)
        if t.startswith("timestamp"):
            return ("timestamp",)
        if t.startswith("time"):
            return ("time",)
        if t in ("json", "jsonb", "variant", "object", "array") or t.startswith("struct") or t.endswith("[]"):
            return ("nested",)
        if t in ("bytea", "blob", "binary", "varbinary"):
            return ("binary",)
        return None

    def long_names(self, table: str, names: Sequence[str]) -> list[str]:
        """The names the database would cut short."""
        limit = self.max_name_bytes
        if limit is None:
            return []
        return [n for n in [*table.split("."), *names] if len(n.encode()) > limit]


class Postgres(Dialect):
    # NAMEDATALEN - 1: a longer name is cut, and the next run no longer finds its column.
    max_name_bytes = 63

    def param(self, i: int) -> str:
        return f"${i}"


class Sqlite(Dialect):
    """SQLite has no decimal, date or time types: they are kept as text (exact digits, ISO
    8601), booleans as 0/1, nested values as JSON text. It has no ``MERGE``: a merge deletes
    the run's keys, then inserts the rows that are not deleted, in one transaction."""

    name = "sqlite"
    json_type = "TEXT"

    def staged(self, t: Any) -> Optional[str]:
        import pyarrow as pa

        if pa.types.is_struct(t) or is_nested(t):
            return "json"
        if pa.types.is_decimal(t) or pa.types.is_time(t) or pa.types.is_timestamp(t) or pa.types.is_date(t):
            return "text"
        if pa.types.is_floating(t):
            return "finite"
        return None

    def column_type(self, t: Any) -> str:
        import pyarrow as pa

        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            return "INTEGER"
        if pa.types.is_floating(t):
            return "REAL"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "BLOB"
        return "TEXT"

    def cast(self, column: str, t: Any) -> str:
        return f"s.{quote(column)}"

    def truthy(self, column: str) -> str:
        return f"COALESCE(s.{quote(column)}, 0) <> 0"

    def merge(self, table: str, staging: str, schema: Any, key: str, deleted: Optional[str]) -> list[str]:
        k = quote(key)
        delete = f"DELETE FROM {table_name(table)} WHERE {k} IN (SELECT {k} FROM {quote(staging)})"
        keep = f"NOT ({self.truthy(deleted)})" if deleted else None
        return [delete, self.insert(table, staging, schema, keep)]

    def columns(self, table: str) -> str:
        schema, _, name = table.rpartition(".")
        return f"SELECT name, type, NULL, NULL FROM pragma_table_info({literal(name)}{', ' + literal(schema) if schema else ''})"

    def family(self, data_type: Any, precision: Any, scale: Any) -> Optional[tuple[Any, ...]]:
        return None  # values keep their own type in SQLite: nothing is cast into a column


class DuckDB(Dialect):
    """DuckDB keeps every Arrow type as it is (structs and lists included)."""

    name = "duckdb"

    def staged(self, t: Any) -> Optional[str]:
        return None

    def cast(self, column: str, t: Any) -> str:
        return f"s.{quote(column)}"

    def column_type(self, t: Any) -> str:
        import pyarrow as pa

        if pa.types.is_struct(t):
            inner = ", ".join(f"{quote(t.field(i).name)} {self.column_type(t.field(i).type)}" for i in range(t.num_fields))
            return f"STRUCT({inner})"
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return f"{self.column_type(t.value_type)}[]"
        if pa.types.is_floating(t):
            return "DOUBLE"
        if pa.types.is_decimal(t):
            return f"DECIMAL({t.precision}, {t.scale})"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "BLOB"
        base = super().column_type(t)
        return "VARCHAR" if base == "TEXT" else base


class Snowflake(Dialect):
    """Snowflake: nested values as ``VARIANT`` (parsed from the staged JSON text)."""

    name = "snowflake"
    json_type = "VARIANT"
    ddl_commits = True

    def column_type(self, t: Any) -> str:
        import pyarrow as pa

        if pa.types.is_integer(t):
            return "NUMBER(10, 0)" if t.bit_width <= 32 else "NUMBER(19, 0)"
        if pa.types.is_floating(t):
            return "FLOAT"
        if pa.types.is_decimal(t):
            return f"NUMBER({t.precision}, {t.scale})"
        if pa.types.is_timestamp(t):
            return "TIMESTAMP_TZ" if t.tz else "TIMESTAMP_NTZ"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "BINARY"
        base = super().column_type(t)
        return "VARCHAR" if base == "TEXT" else base

    def cast(self, column: str, t: Any) -> str:
        import pyarrow as pa

        expr = f"s.{quote(column)}"
        if pa.types.is_struct(t) or is_nested(t):
            return f"PARSE_JSON({expr})"
        if pa.types.is_timestamp(t) and t.tz:
            return f"CAST({expr} AS TIMESTAMP_TZ)"
        return expr


DIALECTS: dict[str, Dialect] = {d.name: d for d in (Postgres(), Sqlite(), DuckDB(), Snowflake())}


def dialect_named(name: str, choices: Sequence[str] = tuple(DIALECTS)) -> Dialect:
    from sfarrow.exceptions import ConfigurationError

    if name not in DIALECTS:
        raise ConfigurationError(f"no SQL dialect {name!r}: {', '.join(choices)}")
    return DIALECTS[name]
