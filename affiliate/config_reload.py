"""Config that reaches running processes without a restart.

Each process keeps a ConfigWatch over the file its settings came from. Web processes poll it
before requests (a clock comparison, and a stat of the file at most every `check_every`
seconds); the scheduler polls it from a job. SIGHUP (gunicorn's convention for "reload")
makes the next poll read the file whatever its time stamp. A file that no longer validates
keeps the running settings and logs why; the database URL is the one setting that needs a
restart, since connections are made with it.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable

from affiliate.config import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 2.0


class ConfigWatch:
    def __init__(self, settings: Settings, check_every: float = CHECK_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.check_every = check_every
        self.clock = clock
        self._stamp = self._file_stamp()
        self._checked_at = clock()
        self._asked = threading.Event()
        self._lock = threading.Lock()

    def ask(self) -> None:
        """Read the file on the next poll (SIGHUP); safe from a signal handler."""
        self._asked.set()

    def poll(self) -> Settings | None:
        """The new settings when the file changed (or a reload was asked for) and still
        validates; None otherwise. Cheap when nothing is due: called before every request."""
        if not self._asked.is_set() and self.clock() < self._checked_at + self.check_every:
            return None
        with self._lock:
            asked = self._asked.is_set()
            if not asked and self.clock() < self._checked_at + self.check_every:
                return None  # another thread has just checked
            self._asked.clear()
            self._checked_at = self.clock()
            stamp = self._file_stamp()
            if not asked and stamp == self._stamp:
                return None
            self._stamp = stamp
            return self._reload()

    def _reload(self) -> Settings | None:
        origin = self.settings.origin
        if origin is None:  # settings built in code: there is nothing to read again
            return None
        try:
            new = load_settings(origin.path, **origin.overrides)
        except ConfigError as exc:
            log.error("config not reloaded, the running config stays: %s", exc)
            return None
        if new.service.database_url != self.settings.service.database_url:
            log.warning("config reloaded, but service.database_url changed: restart the process "
                        "to use the new database; it keeps the one it started with")
        for name, why in new.uninstalled_providers.items():
            log.warning("%s; its stored data is still shown, and it is not refreshed", why)
        self.settings = new
        file = origin.file()
        log.info("config reloaded from %s", file or "the environment and defaults")
        return new

    def _file_stamp(self) -> tuple | None:
        origin = self.settings.origin
        try:
            file = origin.file() if origin is not None else None
            if file is None:
                return None
            status = file.stat()
        except (ConfigError, OSError):
            return None
        return (str(file), status.st_mtime_ns, status.st_size)


# The settings a gunicorn master last read and found valid (affiliate.gunicorn_conf); workers,
# forked from it, inherit them.
_last_good: Settings | None = None


def remember_good(settings: Settings) -> None:
    global _last_good
    _last_good = settings


def load_or_last_good(path: str | None = None) -> Settings:
    """The settings as the file says, or, when it no longer validates and a gunicorn master
    has read it while it did, those: gunicorn answers SIGHUP with new workers, and a worker
    that cannot read its config must still start with the running one."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        if _last_good is None:
            raise
        log.error("config not reloaded, the running config stays: %s", exc)
        return _last_good


def reload_on_sighup(*watches: ConfigWatch) -> bool:
    """Make SIGHUP ask every watch to reload; False where signals cannot be set here (not the
    main thread, or no SIGHUP on this platform)."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return False

    def handler(signum, frame) -> None:
        for watch in watches:
            watch.ask()

    signal.signal(signal.SIGHUP, handler)
    return True
