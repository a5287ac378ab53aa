"""What every destination that applies a run to a table shares (Delta Lake, the ADBC databases,
DuckDB, Snowflake): the mode words, the merge key and ``IsDeleted`` rules, the checks of a
run's keys before anything is written, whether a run's columns fit the table's, and the flow's
state (how it is read back, and the refusal of a commit whose starting watermark moved). The
stores themselves only stage and commit."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Optional

from sfarrow._state import check_not_moved, check_replay_not_moved, parse_state
from sfarrow.exceptions import ConfigurationError, DestinationError

if TYPE_CHECKING:
    import pyarrow as pa

    from sfarrow.destinations._base import Run
    from sfarrow.destinations._conform import Conformer

#: ``append`` adds the run's rows; ``overwrite`` makes them the table's only rows; ``merge``
#: updates rows whose key matches, inserts the others and deletes rows whose ``IsDeleted`` is true.
TableMode = Literal["append", "overwrite", "merge"]
MODES: tuple[str, ...] = ("append", "overwrite", "merge")
#: The column a source that reads deleted records marks them with.
DELETED = "IsDeleted"


def table_mode(mode: str, owner: str) -> TableMode:
    """``mode`` checked; ``"replace"`` (the database destinations' word for ``"overwrite"`` in
    0.x) is still taken, with a :class:`DeprecationWarning`."""
    if mode == "replace":
        warnings.warn(f'{owner}(mode="replace") is now mode="overwrite"', DeprecationWarning, stacklevel=3)
        return "overwrite"
    if mode not in MODES:
        raise ConfigurationError(f'mode must be "append", "overwrite" or "merge", got {mode!r}')
    return mode  # type: ignore[return-value]


def checked_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise ConfigurationError(f"key names the column a merge matches on (Id), got {key!r}")
    return key


def deleted_column(schema: pa.Schema) -> Optional[str]:
    """The run's ``IsDeleted`` column, however it is spelled."""
    return next((f.name for f in schema if f.name.lower() == DELETED.lower()), None)


def needed_fields(mode: str, key: str) -> list[str]:
    """The fields a run in ``mode`` needs whatever the flow's mapping keeps: a merge places
    rows by its key and must see deletions."""
    return [key, DELETED] if mode == "merge" else []


def check_run(mode: str, key: str, schema: pa.Schema) -> None:
    """Refuses, before anything is opened, a merge run that lacks its key column."""
    if mode == "merge" and key not in schema.names:
        raise ConfigurationError(f"a merge matches rows on {key!r}, which the run does not have (it has {schema.names}); set key=")


def check_merging(mode: str) -> None:
    """Refuses to apply change events to a table that does not merge."""
    if mode != "merge":
        raise ConfigurationError(f'change events are applied by a merge: give the destination mode="merge" (it has {mode!r})')


class Feed:
    """A run's batches on their way into a store: counted, conformed, and (with ``key``) checked
    for rows a merge cannot place, a missing key or a key twice, before the last batch is let
    through, so the store's commit never happens. ``drop`` names a column whose true rows are
    left out (deleted records, when there is no table to delete them from). It keeps its own
    first error: a failure inside a driver's ingest reaches us as the driver's error, and the
    user should see theirs."""

    def __init__(self, batches: Iterator[Any], conform: Conformer, key: Optional[str] = None, drop: Optional[str] = None) -> None:
        self.batches = batches
        self.conform = conform
        self.key = key
        self.drop = drop
        self.rows = 0
        self.error: Optional[BaseException] = None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._feed()
        except BaseException as e:
            self.error = e
            raise

    def _feed(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = []
        for b in self.batches:
            self.rows += b.num_rows
            if self.key is not None:
                column = b.column(self.key)
                if column.null_count:
                    raise ConfigurationError(f"{column.null_count} rows of the run have no {self.key}: a merge needs a key on every row")
                keys.append(column)
            b = self.conform.batch(b)
            if self.drop is not None:
                b = b.filter(pc.invert(pc.fill_null(b.column(self.drop), False)))
            yield b
        if keys:
            everything = pa.chunked_array(keys)
            if pc.count_distinct(everything).as_py() != len(everything):
                counts = pc.value_counts(everything)
                twice = [str(v["values"]) for v in counts.filter(pc.greater(counts.field("counts"), 1)).to_pylist()[:3]]
                raise ConfigurationError(f"the run delivers the same {self.key} more than once ({', '.join(twice)}): a merge needs one row per key")


def feed(batches: Iterator[Any], conform: Conformer, mode: str, key: str, *, drop_deleted: bool = False) -> Feed:
    """The feed of a run in ``mode``: a merge's keys are checked; ``drop_deleted`` leaves out
    deleted rows (a merge into a table that does not exist yet inserts only the live ones)."""
    merging = mode == "merge"
    drop = deleted_column(conform.schema) if merging and drop_deleted else None
    return Feed(batches, conform, key=key if merging else None, drop=drop)


# Column types a run may bring into an existing column. A number is (digits, scale): integers
# are whole decimals of their width, so one rule serves both.
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}
_UINT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20}


def family(t: Any) -> Optional[tuple[Any, ...]]:
    """What an Arrow type holds, for comparing a run's column with a table's: ``("number",
    digits, scale)``, ``("float",)``, ``("text",)``, ... or ``None`` (a null column fits
    anything)."""
    import pyarrow as pa

    if pa.types.is_null(t):
        return None
    if pa.types.is_boolean(t):
        return ("bool",)
    if pa.types.is_integer(t):
        digits = _INT_DIGITS if pa.types.is_signed_integer(t) else _UINT_DIGITS
        return ("number", digits[t.bit_width], 0)
    if pa.types.is_decimal(t):
        return ("number", t.precision, t.scale)
    if pa.types.is_floating(t):
        return ("float",)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return ("text",)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return ("binary",)
    if pa.types.is_date(t):
        return ("date",)
    if pa.types.is_timestamp(t):
        return ("timestamp",)
    if pa.types.is_time(t):
        return ("time",)
    return ("nested",)


def check_fits(table: Mapping[str, Optional[tuple[Any, ...]]], run: pa.Schema, store: str, where: str) -> None:
    """Refuses a run with a column the table's column cannot hold as it is: another kind of
    value (a store would cast an integer into a date, a double into an integer), or a number
    with more digits or a longer fraction than the column keeps (it would be rounded without a
    word). ``table`` maps each existing column to its :func:`family` (``None``: not checked)."""
    for f in run:
        had = table.get(f.name)
        has = family(f.type)
        if had is None or has is None or had == has:
            continue
        if had[0] == has[0] == "number":
            digits, scale = had[1], had[2]
            if has[2] <= scale and has[1] - has[2] <= digits - scale:
                continue
            need = max(digits - scale, has[1] - has[2]) + max(scale, has[2])
            why = f"numbers with {has[1]} digits, {has[2]} after the point, and the column keeps {digits} and {scale}: they would be rounded"
            fix = f"widen the column to {max(scale, has[2])} decimal places and {need} digits"
        elif had[0] == has[0]:
            continue
        else:
            why = f"{f.type} values, and the column holds {had[0]}"
            fix = "rename the column in the flow's mapping, or change the table's column"
        raise DestinationError(f"{store} refused the run into {where}: its column {f.name} has {why}; nothing of it was written ({fix})", error_code=store)


def saved_state(text: Any, flow: str, where: str) -> Mapping[str, Any]:
    """A state record a store kept for ``flow``, read back."""
    return parse_state(text, f"the state of flow {flow!r} in {where}")


def check_state(saved: Optional[Mapping[str, Any]], run: Run, where: str) -> None:
    """Refuses to commit ``run`` when the flow's saved watermark is no longer the one it started
    from (``saved`` is the record the store holds now, read inside the commit)."""
    assert run.flow is not None
    where = f"the state of flow {run.flow!r} in {where}"
    check_not_moved(None if saved is None else saved.get("watermark"), run.since, run.flow, where)
    if run.state is not None and run.state.get("replay_id") is not None:
        check_replay_not_moved(None if saved is None else saved.get("replay_id"), run.replay_from, run.flow)
