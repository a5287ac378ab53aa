"""Turning what users hand us into Arrow data."""

from __future__ import annotations

from typing import Any

from sfarrow.exceptions import ConfigurationError


def to_arrow(data: Any, action: str) -> Any:
    """Anything with the Arrow PyCapsule interface passes as it is (pyarrow, polars, ...);
    pandas DataFrames and lists of dicts are converted with pyarrow. ``action`` names what the
    data is for, in the error message.

    A list of dicts takes every key any dict has, in the order they first appear; a dict
    without a key has null there (a null sets the field to null)."""
    is_pandas = type(data).__module__.startswith("pandas")
    if not is_pandas and (hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__")):
        return data
    import pyarrow as pa

    try:
        if isinstance(data, list):
            return _from_dicts(data)
        # Before pandas' own Arrow export, which would raise pyarrow's error for a mixed column.
        if is_pandas:
            return pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise ConfigurationError(
            f"cannot {action} this data: a column mixes values of different types or holds values Arrow cannot type ({e}); "
            "give each column one type (cast it, or convert to text)"
        ) from None
    raise TypeError(f"cannot {action} {type(data).__name__}: pass a pyarrow Table or RecordBatchReader, a polars or pandas DataFrame, or a list of dicts")


def _from_dicts(rows: list[Any]) -> Any:
    import pyarrow as pa

    keys: dict[str, None] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ConfigurationError(f"a list of rows must hold dicts; row {i} is a {type(row).__name__}")
        for k in row:
            if not isinstance(k, str):
                raise ConfigurationError(f"row {i} has a key that is not text: {k!r}")
            keys.setdefault(k)
    columns = {}
    for k in keys:
        values = [row.get(k) for row in rows]
        try:
            columns[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ConfigurationError(f"the values of {k!r} mix types Arrow cannot put in one column ({e}); give them one type") from None
    # Not pa.table(): it looks for pandas, an import of half a second for users without it.
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))
