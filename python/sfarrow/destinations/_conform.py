"""Arrow columns made to fit a store that lacks their type: nested values (addresses,
locations, child records) as JSON text, decimals, dates, times and timestamps as text, times
widened to microseconds. Each destination names, per Arrow type, which of these it needs; the
Arrow type itself comes from the one Salesforce-to-Arrow table in the Rust core."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import pyarrow as pa

#: A rule: for an Arrow type, the conversion it needs ("json", "text", "time64", "finite": NaN
#: refused) or None.
Rule = Callable[[Any], Optional[str]]


def is_nested(t: Any) -> bool:
    """Lists, maps and unions: values with no flat column form."""
    import pyarrow as pa

    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_map(t) or pa.types.is_union(t))


def json_default(value: Any) -> Any:
    """Dates, times and decimals as ISO text and exact digits."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def json_text(column: Any) -> Any:
    """A column of any type as JSON text (null stays null)."""
    import pyarrow as pa

    text = [None if v is None else json.dumps(v, default=json_default, ensure_ascii=False) for v in column.to_pylist()]
    return pa.array(text, pa.string())


def _converted_type(t: Any, how: Optional[str]) -> Any:
    import pyarrow as pa

    if how in ("json", "text"):
        return pa.string()
    if how == "time64":
        return pa.time64("us")
    return t


def _convert(column: Any, how: Optional[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if how is None:
        return column
    if how == "finite":
        # A store that cannot hold NaN (SQLite keeps it as NULL) refuses it rather than lose it.
        if pc.any(pc.is_nan(column)).as_py():
            from sfarrow.exceptions import ConfigurationError

            raise ConfigurationError(
                "the run holds NaN in a floating-point column, which this database stores as NULL; replace it (fill_nan) or write elsewhere"
            )
        return column
    if how == "json":
        return json_text(column)
    if how == "time64":
        return pc.cast(column, pa.time64("us"))
    if pa.types.is_timestamp(column.type):
        # ISO 8601 in UTC with the fraction Arrow keeps (milliseconds for Salesforce).
        return pc.strftime(column, "%Y-%m-%dT%H:%M:%SZ") if column.type.tz else pc.strftime(column, "%Y-%m-%dT%H:%M:%S")
    return pc.cast(column, pa.string())


class Conformer:
    """Converts batches of ``schema`` by ``rule``; ``schema`` after conversion is ``.schema``."""

    def __init__(self, schema: pa.Schema, rule: Rule) -> None:
        import pyarrow as pa

        self.how = [rule(f.type) for f in schema]
        self.identity = all(h is None for h in self.how)
        self.schema = pa.schema([f.with_type(_converted_type(f.type, h)) for f, h in zip(schema, self.how, strict=False)], metadata=schema.metadata)

    def batch(self, b: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow as pa

        if self.identity:
            return b
        return pa.RecordBatch.from_arrays([_convert(c, h) for c, h in zip(b.columns, self.how, strict=False)], schema=self.schema)
