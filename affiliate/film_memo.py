"""Film rows (id and revision: a widget's cache key) kept in the web process, so a cached
widget or a 304 runs no SQL at all.

A change to a film raises its revision (affiliate.revisions). Where the process hears of
changes (affiliate.revision_watch, on PostgreSQL) a kept row is trusted until its film
changes; otherwise, or while not hearing, for `seconds` after it was read: a process holding
an old row keeps answering with the old rendering for at most that long.
A film not found is not kept: a film just added shows at once.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Iterable

from affiliate.film_rows import FilmRow
from providers.base import FilmKey

if TYPE_CHECKING:
    from affiliate.revision_watch import RevisionWatch


def key_parts(key: FilmKey) -> tuple:
    """A film key as a plain tuple (see FilmMemo)."""
    return (key.imdb_id, key.tmdb_id, key.internal_id)


class FilmMemo:
    """A thread-safe LRU of at most `size` rows, each trusted `seconds` (0 = always read), or
    until its film changes while `watch` hears of changes. The default size holds the films
    that draw ~96 % of a 100 000-film site's Zipf traffic in ~38 MB (~580 bytes a row; a
    film not kept costs a widget request ~0.3 ms of reading: bench/RESULTS.md).

    Everything kept is a plain tuple of numbers, strings and datetimes, which the garbage
    collector stops tracking: kept as objects, 16 384 rows made every full collection of a
    web process scan ~80 000 more of them, ~40 ms more of a pause (bench/RESULTS.md)."""

    def __init__(self, seconds: float, size: int = 65536,
                 clock: Callable[[], float] = time.monotonic, watch: RevisionWatch | None = None):
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self.watch = watch
        # The key's parts -> (read at, the listening spell it was read in if no change was
        # heard meanwhile, the row's values).
        self._rows: OrderedDict[tuple, tuple] = OrderedDict()
        self._keys_of: dict[int, tuple] = {}  # film id -> the key parts kept for it
        self._spells = itertools.count(1)
        self._hearing: int | None = None  # the current listening spell
        self._hearing_pid: int | None = None  # a fork copies the memo, not the listening thread
        self._changes = 0
        self._lock = threading.Lock()

    def get(self, key: FilmKey, load: Callable[[], FilmRow | None]) -> FilmRow | None:
        """The kept row if still trusted, else `load()`'s (kept if found)."""
        if self.seconds <= 0:
            return load()
        now = self.clock()
        parts = key_parts(key)
        with self._lock:
            hearing = self._current_spell()
            kept = self._rows.get(parts)
            if kept is not None and self._trusted(kept, now, hearing):
                self._rows.move_to_end(parts)
                return FilmRow._make(kept[2])
            changes = self._changes
        if hearing is None and self.watch is not None:
            self.watch.ensure_running(self)
        film = load()
        if film is not None:
            with self._lock:
                # A change heard during the read may be newer than the row: trust it for
                # `seconds` only.
                heard = hearing if hearing == self._current_spell() and changes == self._changes else None
                self._forget(parts)
                self._rows[parts] = (now, heard, tuple(film))
                self._keys_of[film.id] = (*self._keys_of.get(film.id, ()), parts)
                while len(self._rows) > self.size:
                    self._forget(next(iter(self._rows)))
        return film

    def trusts(self, parts: tuple, row: tuple) -> bool:
        """Whether `row` is still the row kept for the key of these `key_parts`, and still
        trusted (an answer made from it may be given again: affiliate.answer_memo)."""
        if self.seconds <= 0:
            return False
        now = self.clock()
        with self._lock:
            kept = self._rows.get(parts)
            return kept is not None and kept[2] == row and self._trusted(kept, now, self._current_spell())

    def watching(self, listening: bool) -> None:
        """The watch started (or stopped) hearing every change: rows read from now on may
        be trusted until their film changes; rows read before, only for `seconds`."""
        with self._lock:
            self._hearing = next(self._spells) if listening else None
            self._hearing_pid = os.getpid()

    def changed(self, film_ids: Iterable[int]) -> None:
        """These films changed: their rows are read again."""
        with self._lock:
            self._changes += 1
            for film_id in film_ids:
                for parts in self._keys_of.get(film_id, ()):
                    self._forget(parts)

    def _trusted(self, kept: tuple, now: float, hearing: int | None) -> bool:
        """Read less than `seconds` ago, or in the listening spell still going on."""
        return now - kept[0] < self.seconds or (hearing is not None and kept[1] == hearing)

    def _current_spell(self) -> int | None:
        return self._hearing if self._hearing_pid == os.getpid() else None

    def _forget(self, parts: tuple) -> None:
        kept = self._rows.pop(parts, None)
        if kept is not None:
            film_id = kept[2][0]
            others = tuple(other for other in self._keys_of.get(film_id, ()) if other != parts)
            if others:
                self._keys_of[film_id] = others
            else:
                self._keys_of.pop(film_id, None)

    def __len__(self) -> int:
        return len(self._rows)
