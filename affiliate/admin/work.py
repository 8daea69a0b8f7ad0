"""Operators' "refresh now", through the same RefreshEngine the scheduler and CLI use.

- One film: run at once, inside the request, every enabled provider for that film (as
  `affiliate refresh --film`): a few requests, so the operator sees the outcome on the page.
- A whole provider: every film is made due now in the shared due queue, then one run is
  started in a background thread of this process. The request returns at once (a provider's
  run can take minutes at its rate limit), and if this process stops, the scheduler
  (`affiliate serve` or `affiliate scheduler`) still takes the due films on its next check.
  One background run per provider at a time; its outcome shows on the providers page.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from affiliate.catalog import find_film
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.due import make_due
from affiliate.refresh import RefreshEngine, RunReport
from affiliate.types import utcnow
from providers.base import FilmKey

log = logging.getLogger(__name__)

Start = Callable[[Callable[[], None]], None]


def in_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="admin-refresh", daemon=True).start()


@dataclass
class Refresher:
    """The console's and API's refresh actions for one app; `start` runs a job in the
    background (tests pass one that runs it at once)."""

    db: Database
    settings: Settings
    start: Start = in_thread
    _running: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def film(self, film_ref: str) -> list[RunReport]:
        """Refresh a stored film from every enabled provider now: LookupError for a film
        the catalog lacks (add it first), ValueError for a malformed reference."""
        with self.db.session() as session:
            if find_film(session, FilmKey.parse(film_ref)) is None:
                raise LookupError(f"no film matches {film_ref}; add it first")
        engine = RefreshEngine(self.db, self.settings)
        try:
            return engine.run(None, film_ref)
        finally:
            engine.close()

    def provider(self, name: str) -> tuple[bool, int]:
        """Make the provider's films due and start its run: (started, films made due).
        Not started when a run this console started is still going. UnknownProvider;
        ValueError for a disabled provider."""
        engine = RefreshEngine(self.db, self.settings)
        try:
            provider = engine.provider(name)
        finally:
            engine.close()
        if not provider.settings.enabled:
            raise ValueError(f"provider {name} is disabled; enable it in config.toml first")
        made_due = 0 if provider.lists_catalog else make_due(self.db, name, utcnow())
        with self._lock:
            if name in self._running:
                return False, made_due
            self._running.add(name)
        try:
            self.start(lambda: self._run(name))
        except BaseException:
            self._finished(name)
            raise
        return True, made_due

    def running(self, name: str) -> bool:
        with self._lock:
            return name in self._running

    def _run(self, name: str) -> None:
        try:
            engine = RefreshEngine(self.db, self.settings)
            try:
                report = engine.run(name)[0]
            finally:
                engine.close()
            log.info("refresh of %s started from the console: %s", name, report.status)
        except Exception:  # a background thread has no caller to tell: log, keep serving
            log.exception("refresh of %s started from the console failed", name)
        finally:
            self._finished(name)

    def _finished(self, name: str) -> None:
        with self._lock:
            self._running.discard(name)


def is_not_found(exc: Exception) -> bool:
    """A LookupError the service raises for a film, provider or link it does not know (a
    404), not a KeyError or IndexError from a bug (a 500)."""
    return isinstance(exc, LookupError) and not isinstance(exc, (KeyError, IndexError))


def summary(report: RunReport) -> str:
    """One line for an operator: what a run did, or why it did nothing."""
    if report.status in ("skipped", "failed"):
        return f"{report.provider}: {report.status}, stored data kept. {report.error}"
    if report.status == "quarantined":
        return f"{report.provider}: quarantined, stored data kept: {report.stats.quarantined}"
    s = report.stats
    text = (f"{report.provider}: {report.status}. Offers: {s.offers_added} added, "
            f"{s.offers_changed} changed, {s.offers_missing} missing; products: "
            f"{s.products_added} added, {s.products_changed} changed, {s.products_missing} missing.")
    if report.warning:
        text += f" Warning: {report.warning}."
    if s.problems:
        text += f" {len(s.problems)} skipped: " + "; ".join(str(p) for p in s.problems[:3])
    return text

