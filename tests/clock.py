"""A clock for tests: time moves only when the code under test sleeps or the test advances it."""
from __future__ import annotations

import datetime as dt

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


class FakeClock:
    """Time moves only when slept through or advanced by the test."""

    def __init__(self, start: dt.datetime = START):
        self.current = start
        self.slept: list[float] = []

    def now(self) -> dt.datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += dt.timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)
