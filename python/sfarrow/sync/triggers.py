"""What starts a flow's runs: :class:`OnDemand` (each ``run()``), :class:`Schedule` (a rate or
a cron expression) and :class:`OnEvents` (a platform event). A schedule only says when its
slots fall; :class:`Scheduler` runs a flow on them with a :class:`Clock`, so that tests drive
it without waiting."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional, Protocol, Union

from sfarrow.exceptions import ConfigurationError

#: Slots closer together than this are refused, and runs never start closer together.
MIN_INTERVAL = dt.timedelta(minutes=1)

_RATE = re.compile(r"rate\(\s*(\d+)\s*([a-z]+)\s*\)")
_TICK = dt.timedelta(microseconds=1)
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class OnDemand:
    """Runs only when asked: ``flow.run()`` (the default trigger)."""


@dataclass(frozen=True)
class OnEvents:
    """Runs the flow each time an event arrives on ``topic`` (``/event/Export__e``); events
    that arrive while a run is under way coalesce into one more run."""

    topic: str

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not self.topic.startswith(("/event/", "/data/")):
            raise ConfigurationError(f'OnEvents takes a topic like "/event/Export__e" or "/data/AccountChangeEvent", got {self.topic!r}')


class Schedule:
    """Slots at a fixed ``rate`` (Amazon AppFlow's form: ``"rate(5 minutes)"``, ``"rate(1
    hour)"``, ``"rate(2 days)"``) or on a five-field ``cron`` expression (``"*/15 * * * *"``),
    read in ``timezone`` (an IANA name; daylight saving is followed). ``start`` and ``end``
    (aware datetimes) bound the slots; a rate's slots count from ``start`` (default: when the
    flow starts serving). Slots are at least a minute apart."""

    def __init__(
        self,
        expression: str,
        *,
        timezone: str = "UTC",
        start: Optional[dt.datetime] = None,
        end: Optional[dt.datetime] = None,
    ) -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise ConfigurationError(f'a schedule is "rate(5 minutes)" or a cron expression like "*/5 * * * *", got {expression!r}')
        self.expression = expression.strip()
        self.timezone = timezone
        self.zone = _zone(timezone)
        for name, value in (("start", start), ("end", end)):
            if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
                raise ConfigurationError(f"a schedule's {name} is a datetime with a time zone, got {value!r}")
        if start is not None and end is not None and end <= start:
            raise ConfigurationError(f"a schedule's end ({end}) is not after its start ({start})")
        self.start = start
        self.end = end
        self.every: Optional[dt.timedelta] = _rate(self.expression)
        if self.every is None:
            self._cron(dt.datetime.now(dt.timezone.utc), reverse=False)  # a bad expression fails now, not at its first slot

    def __repr__(self) -> str:
        return f"Schedule({self.expression!r}, timezone={self.timezone!r})"

    def next_slot(self, after: dt.datetime, anchor: dt.datetime) -> Optional[dt.datetime]:
        """The first slot strictly after ``after`` (``None``: past the end). ``anchor`` is where
        a rate counts from when the schedule has no ``start``."""
        begin = self.start or anchor
        after = max(after, begin - _TICK)
        if self.every is not None:
            slot = begin + ((after - begin) // self.every + 1) * self.every
        else:
            slot = self._cron(after, reverse=False)
        return None if self.end is not None and slot > self.end else slot

    def last_slot(self, at: dt.datetime, anchor: dt.datetime) -> Optional[dt.datetime]:
        """The latest slot at or before ``at`` (``None``: none yet)."""
        begin = self.start or anchor
        if self.end is not None:
            at = min(at, self.end)
        if at < begin:
            return None
        if self.every is not None:
            return begin + ((at - begin) // self.every) * self.every
        slot = self._cron(at + _TICK, reverse=True)
        return slot if slot >= begin else None

    def _cron(self, after: dt.datetime, reverse: bool) -> dt.datetime:
        """The cron expression's first slot after (or, ``reverse``, before) ``after``."""
        try:
            from cronsim import CronSim, CronSimError
        except ImportError:
            raise ConfigurationError('cron schedules need the cronsim package: pip install "sfarrow[sync]"') from None
        fields = self.expression.split()
        if len(fields) != 5:
            raise ConfigurationError(
                f"a cron expression has five fields (minute hour day-of-month month day-of-week), {self.expression!r} has {len(fields)}; "
                'seconds are not scheduled: write "*/5 * * * *", or "rate(5 minutes)"'
            )
        try:
            return next(CronSim(self.expression, after.astimezone(self.zone), reverse=reverse)).astimezone(dt.timezone.utc)
        except (CronSimError, StopIteration) as e:
            raise ConfigurationError(f"the cron expression {self.expression!r} is not valid: {e or 'it never matches'}") from None


def _rate(expression: str) -> Optional[dt.timedelta]:
    """A ``rate(...)`` expression's interval; ``None`` for anything else (a cron expression)."""
    if not expression.startswith("rate"):
        return None
    # AppFlow writes "rate(5minutes)", EventBridge "rate(5 minutes)": both are taken.
    m = _RATE.fullmatch(re.sub(r"(\d)([a-z])", r"\1 \2", expression.lower()))
    if m is None:
        raise ConfigurationError(f'a rate is written "rate(5 minutes)", "rate(1 hour)" or "rate(2 days)", got {expression!r}')
    value, unit = int(m.group(1)), m.group(2)
    if unit not in _UNITS:
        raise ConfigurationError(f"a rate's unit is minutes, hours or days, got {unit!r} in {expression!r}")
    every = dt.timedelta(seconds=value * _UNITS[unit])
    if every < MIN_INTERVAL:
        raise ConfigurationError(f"{expression!r} is under a minute; flows run at most once a minute: write rate(1 minute) or more")
    return every


def _zone(name: str) -> dt.tzinfo:
    if name == "UTC":
        return dt.timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        raise ConfigurationError(f'timezone is an IANA name like "Europe/Paris" or "UTC", got {name!r}') from None


Trigger = Union[OnDemand, Schedule, OnEvents]


class Clock(Protocol):
    """What a scheduler reads the time from and waits with."""

    def now(self) -> dt.datetime:
        """The current time, aware, in UTC."""
        ...

    def wait_until(self, when: dt.datetime, stop: threading.Event) -> bool:
        """Waits until ``when``; False when ``stop`` was set first."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def wait_until(self, when: dt.datetime, stop: threading.Event) -> bool:
        while not stop.is_set():
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return True
            # Short waits, so a clock that jumps (a laptop waking) is noticed within a second.
            stop.wait(min(left, 1.0))
        return False


class Scheduler:
    """Runs ``run(slot)`` on a schedule's slots until ``stop`` is set or the schedule ends.

    Runs never overlap (one loop runs them) and never start less than a minute apart. A run
    covers every slot up to its start: slots that pass while a run is under way, or while
    nothing served the flow (``last_run``: when the flow last ran, from its state), are made
    up by one run, not one per slot. Without a ``last_run`` the first run is at the first
    slot (a rate's: at once)."""

    def __init__(self, schedule: Schedule, clock: Optional[Clock] = None) -> None:
        self.schedule = schedule
        self.clock: Clock = clock or SystemClock()

    def due(self, covered: dt.datetime, started: Optional[dt.datetime], anchor: dt.datetime) -> Optional[dt.datetime]:
        """When the next run starts, after a run that started at ``started`` and covered the slots
        up to ``covered`` (``None``: the schedule has ended)."""
        due = self.schedule.next_slot(covered, anchor)
        if due is not None and started is not None:
            due = max(due, started + MIN_INTERVAL)
        return due

    def serve(self, run: Callable[[dt.datetime], Any], stop: threading.Event, last_run: Optional[dt.datetime] = None) -> int:
        """Runs until ``stop`` is set or the schedule ends; returns how many runs it made."""
        now = self.clock.now()
        # A rate without a start counts from the last run, so a restart keeps its rhythm.
        anchor = last_run or now
        covered = last_run if last_run is not None else now - _TICK
        started: Optional[dt.datetime] = None
        runs = 0
        while not stop.is_set():
            due = self.due(covered, started, anchor)
            if due is None or (due > self.clock.now() and not self.clock.wait_until(due, stop)):
                break
            started = covered = self.clock.now()
            run(self.schedule.last_slot(started, anchor) or due)
            runs += 1
        return runs
