"""Hearing, in a web process, which films changed anywhere (PostgreSQL LISTEN/NOTIFY), so its
film memo (affiliate.film_memo) keeps a row until the film changes instead of reading it again
every `http.revision_check_seconds`.

On a site with a long tail most films are asked for less often than every few seconds, so a
memo trusted for seconds reads the film's row on most requests; at 100 000 films that read
was half the requests (bench/RESULTS.md). revisions.bump announces each change in its own
transaction, which PostgreSQL delivers after the commit and never for a rollback.

One thread per process, started on the process's first widget read (a server that forks
after loading the app starts one in each worker), on a connection of its own. While it is
not listening (connecting, or its connection failed) the memo trusts rows for
`revision_check_seconds` only, as on SQLite; when it listens again, rows read before are
read again.
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING

from affiliate.db import Database
from affiliate.revisions import CHANNEL

if TYPE_CHECKING:
    from affiliate.film_memo import FilmMemo

log = logging.getLogger(__name__)

# How often the thread looks up from waiting, to stop when asked or when its memo is gone.
POLL_SECONDS = 1.0
# After a failure, the wait before connecting again.
RETRY_SECONDS = 5.0


class RevisionWatch:
    def __init__(self, db: Database):
        self.db = db
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def ensure_running(self, memo: FilmMemo) -> None:
        """Start listening for `memo` if this process is not already (cheap when it is)."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            if self._stopping():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, args=(weakref.ref(memo),),
                                            name="affiliate-revision-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=POLL_SECONDS * 3)

    def _run(self, memo_ref: weakref.ref) -> None:
        failing = False
        while not self._stopping() and memo_ref() is not None:
            connection = None
            try:
                connection = self.db.kept_connection()
                connection.exec_driver_sql(f"LISTEN {CHANNEL}")
                driver = connection.connection.driver_connection
                self._listening(memo_ref, True)
                if failing:
                    log.warning("hearing film changes again: kept film rows are trusted until they change")
                    failing = False
                while not self._stopping():
                    memo = memo_ref()
                    if memo is None:
                        return
                    del memo
                    for notice in driver.notifies(timeout=POLL_SECONDS):
                        memo = memo_ref()
                        if memo is not None:
                            memo.changed(int(part) for part in notice.payload.split(","))
                        del memo
            except Exception as exc:  # the database's errors, whatever the driver
                if not failing and not self._stopping():
                    log.warning("not hearing film changes (%s): kept film rows are read again "
                                "every http.revision_check_seconds", exc)
                failing = True
            finally:
                self._listening(memo_ref, False)
                if connection is not None:
                    self.db.drop_kept(connection)
            self._stop.wait(RETRY_SECONDS)

    def _stopping(self) -> bool:
        return self._stop.is_set() or self.db.disposed

    @staticmethod
    def _listening(memo_ref: weakref.ref, listening: bool) -> None:
        memo = memo_ref()
        if memo is not None:
            memo.watching(listening)
