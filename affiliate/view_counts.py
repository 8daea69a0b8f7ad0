"""Widget views counted in the web process's memory and written every few seconds, so a
widget request never writes to the database.

Each process adds views per (film, day) under a lock; a daemon thread, started with the
first view, writes them in one transaction of upserts (affiliate.due.record_views) at most
every `interval` seconds, and again when the process exits normally. A process that dies
hard (SIGKILL, a crash, the machine going down) loses at most the last `interval` seconds
of its views: they only rank films for refreshing, so that is an acceptable price.
"""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
from collections import Counter

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from affiliate.db import Database
from affiliate.due import record_views

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0


class ViewCounter:
    """One per app and process; `add` is cheap and thread-safe, `flush` writes what was added."""

    def __init__(self, db: Database, interval: float = FLUSH_SECONDS):
        self.db = db
        self.interval = interval
        self._pending: Counter[tuple[int, dt.date]] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def add(self, film_id: int, now: dt.datetime) -> None:
        day = now.astimezone(dt.timezone.utc).date()
        with self._lock:
            self._pending[(film_id, day)] += 1
            if self._thread is None:
                # Started here, not at app creation: a server that forks workers after
                # loading the app (gunicorn --preload) gets one thread in each worker.
                self._thread = threading.Thread(target=self._run, name="view-counts", daemon=True)
                self._thread.start()
                atexit.register(self._flush_logged)

    def flush(self) -> int:
        """Write the views added so far; returns how many. A database error keeps them for
        the next flush, except a rejected row (a film deleted meanwhile), which drops them."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return 0
        try:
            record_views(self.db, pending)
        except IntegrityError:
            log.exception("dropped %d views that the database rejected", pending.total())
            return 0
        except SQLAlchemyError:
            with self._lock:
                self._pending.update(pending)
            raise
        return pending.total()

    def close(self) -> None:
        """Stop the flush thread and write what is left (an app torn down: tests, CLI)."""
        self._closed.set()
        atexit.unregister(self._flush_logged)
        self._flush_logged()

    def _run(self) -> None:
        while not self._closed.wait(self.interval):
            self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except SQLAlchemyError:
            log.exception("could not write widget views; kept for the next flush")
