"""Film rows (id and revision: a widget's cache key) kept in the web process for a few
seconds, so a cached widget or a 304 runs no SQL at all.

A change to a film raises its revision (affiliate.revisions); a process holding the old row
keeps answering with the old rendering for at most `seconds` more, then reads the row again.
A film not found is not kept: a film just added shows at once.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

from sqlalchemy import Row

from providers.base import FilmKey


class FilmMemo:
    """A thread-safe LRU of at most `size` rows, each trusted `seconds` (0 = always read)."""

    def __init__(self, seconds: float, size: int = 4096,
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._rows: OrderedDict[FilmKey, tuple[float, Row]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: FilmKey, load: Callable[[], Row | None]) -> Row | None:
        """The kept row if it is recent enough, else `load()`'s (kept if found). Rows are
        immutable tuples of the film's columns (affiliate.film_rows), so threads share them."""
        if self.seconds <= 0:
            return load()
        now = self.clock()
        with self._lock:
            kept = self._rows.get(key)
            if kept is not None and now - kept[0] < self.seconds:
                self._rows.move_to_end(key)
                return kept[1]
        film = load()
        if film is not None:
            with self._lock:
                self._rows[key] = (now, film)
                self._rows.move_to_end(key)
                while len(self._rows) > self.size:
                    self._rows.popitem(last=False)
        return film

    def trusted_until(self, key: FilmKey) -> float | None:
        """When the kept row of `key` will be read again (on `clock`); None if none is kept."""
        if self.seconds <= 0:
            return None
        with self._lock:
            kept = self._rows.get(key)
        return None if kept is None else kept[0] + self.seconds

    def __len__(self) -> int:
        return len(self._rows)
