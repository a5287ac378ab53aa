"""A flow's state: the record an incremental flow saves after each run (its watermark and the
shape of the source that read up to it), wherever it is kept (a state file, a table's commit).
One spelling of a watermark, one check of a saved record, so that every store agrees on what
"the same watermark" is."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, Optional

from sfarrow.exceptions import ConfigurationError

_WATERMARK = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z")


def watermark_literal(value: Any) -> str:
    """A datetime as a SOQL literal with milliseconds, in UTC: ``2026-11-28T10:00:00.123Z``
    (the one spelling a watermark is saved and compared in)."""
    if not isinstance(value, dt.datetime):
        raise ConfigurationError(f"the incremental field must be a datetime, got {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    stamp: str = value.strftime("%Y-%m-%dT%H:%M:%S.")
    return stamp + f"{value.microsecond // 1000:03d}Z"


def normal_watermark(watermark: Any, where: str) -> Optional[str]:
    """A saved watermark in the one spelling (``None`` stays ``None``); anything that is not a
    UTC datetime is a :class:`ConfigurationError` naming ``where`` it was found."""
    if watermark is None:
        return None
    if not isinstance(watermark, str) or not _WATERMARK.fullmatch(watermark):
        raise broken(where, f"has a watermark that is not a UTC datetime like 2026-11-28T10:00:00.000Z: {str(watermark)[:60]!r}")
    whole, _, frac = watermark[:-1].partition(".")
    try:
        stamp = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(microsecond=int(frac.ljust(3, "0")) * 1000)
    except ValueError:
        raise broken(where, f"has a watermark that is not a real date: {watermark!r}") from None
    return watermark_literal(stamp)


def state_record(watermark: Optional[str], shape: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """What a flow's state holds, in a file or in a destination's commit."""
    return {"watermark": watermark, "source": dict(shape) if shape is not None else None}


def run_state(watermark: Optional[str], shape: Optional[Mapping[str, Any]], replay_id: Optional[str] = None) -> dict[str, Any]:
    """The state a run commits with its data: :func:`state_record`, when the run started
    (``ran_at``: a schedule counts its slots from it) and, for a flow of events, the replay id
    of the last event it applied."""
    record = state_record(watermark, shape)
    record["ran_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    if replay_id is not None:
        record["replay_id"] = replay_id
    return record


def parse_state(text: Any, where: str) -> dict[str, Any]:
    """A state record read back as text (JSON): a JSON object, or a :class:`ConfigurationError`
    that says where it is and how to recover (a row overwritten by hand is never taken for "no
    watermark", which would read everything again into an append table)."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise broken(where, "is not JSON") from None
    if not isinstance(data, dict):
        raise broken(where, f"holds {type(data).__name__}, not a flow state (a JSON object)")
    return data


def checked_watermark(data: Any, shape: Optional[Mapping[str, Any]], where: str, own: str) -> Optional[str]:
    """The watermark of a saved state record, after checking that it is one and that it was
    saved by a source of this ``shape``."""
    if not isinstance(data, Mapping):
        raise broken(where, f"holds {type(data).__name__}, not a flow state (a JSON object)")
    recorded = data.get("source")
    if shape is not None and recorded is not None and recorded != dict(shape):
        raise ConfigurationError(
            f"{where} belongs to another flow (it read {_describe(recorded)}; this one reads {_describe(shape)}); {own}, or delete it to read everything again"
        )
    return normal_watermark(data.get("watermark"), where)


def check_not_moved(saved: Optional[str], since: Optional[str], flow: str, where: str) -> None:
    """Refuses a commit when the saved watermark is no longer the one the run started from:
    a run of the same flow committed meanwhile, and committing this one would repeat or skip
    records. Both sides are compared in the one spelling."""
    if normal_watermark(saved, where) != normal_watermark(since, "the run"):
        raise ConfigurationError(f"another run of flow {flow!r} committed (watermark {saved}) while this one ran from {since}; run the flow again")


def check_replay_not_moved(saved: Any, start: Optional[str], flow: str) -> None:
    """Refuses a commit of change events when the flow's saved replay id is no longer the one
    the run began from: another process applied events meanwhile, and this batch would apply
    some of them twice."""
    if saved != start:
        raise ConfigurationError(
            f"another process applied events of flow {flow!r} (replay id {saved}) while this one applied from {start}; serve each flow from one process"
        )


def broken(where: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"{where} {why}; fix or delete it (deleting it makes the next run read everything)")


def _describe(shape: Mapping[str, Any]) -> str:
    text = f"{shape.get('object')} by {shape.get('incremental')}"
    if shape.get("where"):
        text += f" where {shape['where']}"
    if shape.get("include_deleted"):
        text += " with deleted records"
    return text
