"""Per-app state of the widgets service, and the accessor route modules use.

Kept apart from the app factory (affiliate.app), as Flask's tutorial keeps `get_db` apart
from `create_app`: route modules import this, and nothing imports the factory but the
entry points.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from flask import current_app

from affiliate.answer_memo import AnswerMemo
from affiliate.cache import FragmentCache, service_version
from affiliate.config import Settings
from affiliate.config_reload import ConfigWatch
from affiliate.db import Database
from affiliate.film_memo import FilmMemo
from affiliate.film_rows import FilmRows
from affiliate.fragment_store import SharedFragments
from affiliate.i18n import available_locales
from affiliate.negotiation import Preferences
from affiliate.revision_watch import RevisionWatch
from affiliate.sources import SourceDirectory
from affiliate.view_counts import ViewCounter


def templates_folder() -> Path:
    """Inside the wheel the templates sit in the package; in a checkout, at the top level."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


class AffiliateState:
    """One app's settings and what is built from them: caches of rendered widgets and film
    rows, negotiation preferences, the source directory. A config reload (affiliate.
    config_reload) builds them all again from the new settings; the database stays."""

    def __init__(self, settings: Settings, db: Database):
        self.db = db
        self.film_rows = FilmRows(db)  # the widgets' film reads (affiliate.film_rows)
        self.views = ViewCounter(db)  # widget views to write (affiliate.view_counts)
        self.watch = ConfigWatch(settings)
        # Called with the new settings after a reload (the console's refresher keeps them).
        self.listeners: list[Callable[[Settings], None]] = []
        self.apply(settings)

    def apply(self, settings: Settings) -> None:
        self.settings = settings
        version = service_version(settings, Path(__file__).parent, templates_folder())
        shared = (SharedFragments.from_url(settings.service.redis_url, version)  # affiliate.fragment_store
                  if settings.http.shared_fragments else None)
        self.fragments = FragmentCache(settings.http.fragment_cache_size, version, shared)  # affiliate.cache
        hears = self.db.keeps_connections and settings.http.listen_for_changes  # PostgreSQL
        watch = RevisionWatch(self.db) if hears else None
        self.films = FilmMemo(settings.http.revision_check_seconds, watch=watch)  # affiliate.film_memo
        self.answers = AnswerMemo(settings.http.answer_memo_megabytes,  # affiliate.answer_memo
                                  settings.http.country_header, self.films)
        service = settings.service
        self.preferences = Preferences(service.default_region, service.default_locale,
                                       available_locales(), settings.http.country_header)
        self.sources = SourceDirectory(self.db, settings)  # stored source names -> terms
        for listener in self.listeners:
            listener(settings)

    def refresh_settings(self) -> bool:
        """Apply the config file if it changed (or SIGHUP asked); True if it did."""
        new = self.watch.poll()
        if new is None:
            return False
        self.apply(new)
        return True


def state() -> AffiliateState:
    return current_app.extensions["affiliate"]
