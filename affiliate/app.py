"""The app factory and the Flask extension a host app uses to embed the widgets."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from affiliate.answer_memo import AnswerMemo
from affiliate.cache import FragmentCache, service_version
from affiliate.config import Settings, load_settings
from affiliate.db import Database
from affiliate.film_memo import FilmMemo
from affiliate.i18n import available_locales
from affiliate.negotiation import Preferences
from affiliate.view_counts import ViewCounter


def templates_folder() -> Path:
    """Inside the wheel the templates sit in the package; in a checkout, at the top level."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


@dataclass
class AffiliateState:
    settings: Settings
    db: Database
    fragments: FragmentCache = field(init=False)  # rendered widgets (affiliate.cache)
    films: FilmMemo = field(init=False)  # film rows for cache keys (affiliate.film_memo)
    answers: AnswerMemo = field(init=False)  # answers to repeated requests (affiliate.answer_memo)
    views: ViewCounter = field(init=False)  # widget views to write (affiliate.view_counts)
    preferences: Preferences = field(init=False)  # what negotiation chooses from


    def __post_init__(self) -> None:
        version = service_version(self.settings, Path(__file__).parent, templates_folder())
        self.fragments = FragmentCache(self.settings.http.fragment_cache_size, version)
        self.films = FilmMemo(self.settings.http.revision_check_seconds)
        self.answers = AnswerMemo(self.settings.http.fragment_cache_size,
                                  self.settings.http.country_header)
        self.views = ViewCounter(self.db)
        service = self.settings.service
        self.preferences = Preferences(service.default_region, service.default_locale,
                                       available_locales(), self.settings.http.country_header)


class Affiliate:
    """Flask extension: `Affiliate(app, settings)` in a host app adds the widget blueprint,
    the Jinja macros and the CLI commands to that app."""

    def __init__(self, app: Flask | None = None, settings: Settings | None = None,
                 url_prefix: str | None = None):
        self.settings = settings
        self.url_prefix = url_prefix
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        from affiliate.blueprint import PUBLIC_ENDPOINTS, bp
        from affiliate.cli import register_commands
        from affiliate.delivery import keep_sessions_cookieless

        settings = self.settings or load_settings()
        app.extensions["affiliate"] = AffiliateState(settings, Database(settings.service.database_url))
        app.register_blueprint(bp, url_prefix=self.url_prefix)
        keep_sessions_cookieless(app, PUBLIC_ENDPOINTS)
        register_commands(app)


def state() -> AffiliateState:
    return current_app.extensions["affiliate"]


def create_app(settings: Settings | None = None) -> Flask:
    """The standalone service: widgets, JSON API, the demo page at / and the operator
    console and admin API at /admin."""
    from affiliate.admin import init_admin
    from affiliate.blueprint import demo_bp

    app = Flask(__name__, static_folder=None)
    Affiliate(app, settings)
    app.register_blueprint(demo_bp)
    affiliate = app.extensions["affiliate"]
    init_admin(app, affiliate.settings, affiliate.db)
    return app
