"""Flows that keep running: triggers (:mod:`.triggers`), change events applied to a table
(:mod:`.replica`, folded by :mod:`.changes`) and ``Flow.serve`` (:mod:`.serve`)."""

from sfarrow.sync.platform import PlatformEventSource
from sfarrow.sync.replica import ChangeEventSource
from sfarrow.sync.triggers import Clock, OnDemand, OnEvents, Schedule, Scheduler, SystemClock, Trigger

__all__ = ["ChangeEventSource", "PlatformEventSource", "Clock", "OnDemand", "OnEvents", "Schedule", "Scheduler", "SystemClock", "Trigger"]
