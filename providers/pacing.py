"""Keeping to a source's published request rate within one process."""
from __future__ import annotations

import time


class Pacer:
    """Spaces one adapter's calls to its source's published rate, within this process.

    The default throttle of a Provider built without one (tests, one-off scripts); refresh
    passes a limiter shared across processes instead (affiliate.limits).
    """

    sleep = staticmethod(time.sleep)

    def __init__(self, per_second: float):
        self.interval = 1 / per_second
        self._next = 0.0

    def wait(self) -> None:
        delay = self._next - time.monotonic()
        if delay > 0:
            self.sleep(delay)
        self._next = time.monotonic() + self.interval
