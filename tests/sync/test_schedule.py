"""Schedules over a simulated clock: the expected runs and no others, never two at once, at
most one a minute, one catch-up run after downtime, and trigger specs a user gets wrong."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

import sfarrow
from sfarrow.exceptions import ConfigurationError
from sfarrow.sync import Scheduler

T0 = dt.datetime(2026, 3, 28, 23, 0, 0, tzinfo=dt.timezone.utc)
MINUTE = dt.timedelta(minutes=1)


class FakeClock:
    """Time that moves only when the scheduler waits or a run takes time; the test ends the
    serve loop at ``until``."""

    def __init__(self, start: dt.datetime, until: dt.datetime) -> None:
        self.t = start
        self.until = until
        self.waits: list[dt.datetime] = []
        self.stop = threading.Event()

    def now(self) -> dt.datetime:
        if self.t > self.until:
            self.stop.set()  # runs that overran the end: the loop stops before another
        return self.t

    def wait_until(self, when: dt.datetime, stop: threading.Event) -> bool:
        self.waits.append(when)
        if when > self.until:
            stop.set()
            return False
        self.t = max(self.t, when)
        return True


class Runs:
    """A flow's run that takes ``took`` of simulated time and checks that no other runs at once."""

    def __init__(self, clock: FakeClock, took: dt.timedelta = dt.timedelta(seconds=5)) -> None:
        self.clock = clock
        self.took = took
        self.started: list[dt.datetime] = []
        self.slots: list[dt.datetime] = []
        self.running = False

    def __call__(self, slot: dt.datetime) -> None:
        assert not self.running, "two runs at once"
        self.running = True
        self.started.append(self.clock.now())
        self.slots.append(slot)
        self.clock.t += self.took
        self.running = False


def serve(expression: str, minutes: int, *, took=dt.timedelta(seconds=5), last_run=None, **options) -> Runs:
    clock = FakeClock(T0, T0 + dt.timedelta(minutes=minutes))
    runs = Runs(clock, took)
    Scheduler(sfarrow.Schedule(expression, **options), clock).serve(runs, clock.stop, last_run=last_run)
    return runs


def test_rate_one_minute_runs_exactly_once_a_minute():
    runs = serve("rate(1 minute)", 10)
    assert runs.started == [T0 + i * MINUTE for i in range(11)]
    assert runs.slots == runs.started


def test_appflow_and_eventbridge_spellings_agree():
    assert serve("rate(5minutes)", 30).started == serve("rate(5 minutes)", 30).started == [T0 + i * 5 * MINUTE for i in range(7)]


def test_a_run_longer_than_its_interval_is_followed_by_one_run_not_one_per_missed_slot():
    # Each run takes 3.5 minutes: the slots it covers are made up by one run, at once.
    runs = serve("rate(1 minute)", 10, took=dt.timedelta(minutes=3, seconds=30))
    gaps = [b - a for a, b in zip(runs.started, runs.started[1:], strict=False)]
    assert all(g == dt.timedelta(minutes=3, seconds=30) for g in gaps), gaps
    assert runs.started[:3] == [T0, T0 + dt.timedelta(minutes=3, seconds=30), T0 + 7 * MINUTE]
    assert runs.slots[1] == T0 + 3 * MINUTE, "the run covers the latest slot that had come"


def test_downtime_is_made_up_by_one_run_then_the_rhythm_resumes():
    # The flow last ran 47 minutes before the process started again.
    last = T0 - dt.timedelta(minutes=47)
    runs = serve("rate(10 minutes)", 25, last_run=last)
    assert runs.started[0] == T0, "one catch-up run at once"
    assert runs.slots[0] == last + 40 * MINUTE, "the catch-up covers the latest missed slot"
    # Then the slots as they were (counted from the last run), not counted again from the catch-up.
    assert runs.started[1:] == [last + 50 * MINUTE, last + 60 * MINUTE, last + 70 * MINUTE]


def test_a_recent_last_run_keeps_its_rhythm_across_a_restart():
    last = T0 - dt.timedelta(minutes=3)
    runs = serve("rate(10 minutes)", 25, last_run=last)
    assert runs.started == [last + 10 * MINUTE, last + 20 * MINUTE]


def test_runs_never_start_less_than_a_minute_apart():
    # A catch-up run 30 s into a minute, with a cron slot every minute: the next slot is 30 s
    # later, and waits until a minute has passed since the catch-up began.
    clock = FakeClock(T0 + dt.timedelta(seconds=30), T0 + 5 * MINUTE)
    runs = Runs(clock, dt.timedelta(seconds=1))
    Scheduler(sfarrow.Schedule("* * * * *"), clock).serve(runs, clock.stop, last_run=T0 - 5 * MINUTE)
    assert runs.started[:3] == [T0 + dt.timedelta(seconds=30), T0 + dt.timedelta(seconds=90), T0 + 2 * MINUTE + dt.timedelta(seconds=30)]
    assert runs.slots[:2] == [T0, T0 + MINUTE]


def test_cron_in_a_time_zone_follows_daylight_saving():
    # 02:30 every day, Paris time. On 29 March 2026 clocks jump from 02:00 to 03:00: that day's
    # slot does not exist and runs at 03:00 CEST, as cron does; then 02:30 CEST is 00:30 UTC.
    runs = serve("30 2 * * *", 4 * 24 * 60, timezone="Europe/Paris")
    utc = dt.timezone.utc
    assert runs.started == [
        dt.datetime(2026, 3, 29, 1, 0, tzinfo=utc),
        dt.datetime(2026, 3, 30, 0, 30, tzinfo=utc),
        dt.datetime(2026, 3, 31, 0, 30, tzinfo=utc),
        dt.datetime(2026, 4, 1, 0, 30, tzinfo=utc),
    ]


def test_start_and_end_bound_the_runs():
    start = T0 + 5 * MINUTE
    runs = serve("rate(2 minutes)", 60, start=start, end=start + 6 * MINUTE)
    assert runs.started == [start, start + 2 * MINUTE, start + 4 * MINUTE, start + 6 * MINUTE]


@pytest.mark.parametrize(
    "expression, says",
    [
        ("rate(30 seconds)", "unit is minutes, hours or days"),
        ("rate(5 fortnights)", "unit is minutes, hours or days"),
        ("rate(0 minutes)", "under a minute"),
        ("rate(five minutes)", 'written "rate(5 minutes)"'),
        ("*/10 * * * * *", "five fields"),
        ("61 * * * *", "not valid"),
        ("", "a schedule is"),
    ],
)
def test_bad_schedules_say_what_to_write_instead(expression, says):
    with pytest.raises(ConfigurationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        sfarrow.Schedule(expression)


def test_bad_time_zones_and_bounds_are_refused():
    with pytest.raises(ConfigurationError, match="IANA name"):
        sfarrow.Schedule("rate(1 hour)", timezone="Mars/Olympus")
    with pytest.raises(ConfigurationError, match="time zone"):
        sfarrow.Schedule("rate(1 hour)", start=dt.datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError, match="not after its start"):
        sfarrow.Schedule("rate(1 hour)", start=T0, end=T0)


def test_a_flow_takes_only_a_trigger():
    with pytest.raises(ConfigurationError, match="trigger is"):
        sfarrow.Flow(sfarrow.ArrowSource({"a": [1]}), sfarrow.ArrowDestination(), trigger="rate(1 minute)")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="topic like"):
        sfarrow.OnEvents("Export__e")
