"""Durations as users write them: seconds, a ``timedelta``, or text such as ``"15m"``."""

from __future__ import annotations

import datetime as dt
from typing import Union

from sfarrow.exceptions import ConfigurationError

_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds_of(value: Union[float, str, dt.timedelta], name: str) -> float:
    """A duration: seconds, a ``timedelta``, or text such as ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"``."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and value.strip()[:-1].replace(".", "", 1).isdigit() and value.strip()[-1:] in _DURATION:
        seconds = float(value.strip()[:-1]) * _DURATION[value.strip()[-1]]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigurationError(f'{name} is a duration like "1h", "15m" or "90s", a number of seconds, or a timedelta; got {value!r}')
    if not seconds > 0:
        raise ConfigurationError(f"{name} must be longer than 0 s, got {value!r}")
    return seconds
