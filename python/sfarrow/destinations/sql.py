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

from sfarrow.destinations._conform import is_nested

STATE_TABLE = "sfarrow_flow_state"


def quote(name: str) -> str:
    """An identifier, quoted: Salesforce names keep their case (``"NumberOfEmployees"``)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string literal (for catalog queries, which take no parameters everywhere)."""
    return "'" + text.replace("'", "''") + "'"


def table_name(name: str) -> str:
    """``schema.table`` or ``table``, each part quoted."""
    return ".".join(quote(part) for part in name.split("."))


class Dialect:
    """PostgreSQL (15 or later, for ``MERGE``), the base the others adjust."""

    name = "postgresql"
    #: How a column travels in the staging table, by Arrow type (see ``_conform``).
    json_type = "JSONB"

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

    def duplicates(self, staging: str, key: str) -> str:
        k = quote(key)
        return f"SELECT {k}, COUNT(*) FROM {quote(staging)} GROUP BY {k} HAVING COUNT(*) > 1 LIMIT 3"

    def null_keys(self, staging: str, key: str) -> str:
        return f"SELECT COUNT(*) FROM {quote(staging)} WHERE {quote(key)} IS NULL"

    def param(self, i: int) -> str:
        return "?"

    def state_table(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (flow VARCHAR(255) PRIMARY KEY, state TEXT NOT NULL)"

    def state_select(self) -> str:
        return f"SELECT state FROM {STATE_TABLE} WHERE flow = {self.param(1)}"

    def state_write(self) -> list[str]:
        """Replace the flow's row (delete, then insert: the same on every database)."""
        return [f"DELETE FROM {STATE_TABLE} WHERE flow = {self.param(1)}", f"INSERT INTO {STATE_TABLE} (flow, state) VALUES ({self.param(1)}, {self.param(2)})"]

    def drop_table(self, table: str) -> str:
        return f"DROP TABLE IF EXISTS {table_name(table)}"

    def columns(self, table: str) -> str:
        """The query listing a table's columns (no rows: no such table)."""
        schema, _, name = table.rpartition(".")
        where = f"table_schema = {literal(schema)}" if schema else "table_schema = current_schema()"
        return f"SELECT column_name FROM information_schema.columns WHERE {where} AND table_name = {literal(name)} ORDER BY ordinal_position"


class Postgres(Dialect):
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
        return f"SELECT name FROM pragma_table_info({literal(name)}{', ' + literal(schema) if schema else ''})"


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
