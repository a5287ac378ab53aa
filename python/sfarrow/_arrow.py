"""Turning what users hand us into Arrow data."""

from __future__ import annotations

from typing import Any


def to_arrow(data: Any, action: str) -> Any:
    """Anything with the Arrow PyCapsule interface passes as it is (pyarrow, polars, ...);
    pandas DataFrames and lists of dicts are converted with pyarrow. ``action`` names what the
    data is for, in the error message."""
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        return data
    import pyarrow as pa

    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        f"cannot {action} {type(data).__name__}: pass a pyarrow Table or RecordBatchReader, a polars "
        "or pandas DataFrame, or a list of dicts"
    )
