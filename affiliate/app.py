"""The app factory and the Flask extension a host app uses to embed the widgets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from affiliate.config import Settings, load_settings
from affiliate.db import Database


def templates_folder() -> Path:
    """Inside the wheel the templates sit in the package; in a checkout, at the top level."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


@dataclass
class AffiliateState:
    settings: Settings
    db: Database


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
        from affiliate.blueprint import bp
        from affiliate.cli import register_commands

        settings = self.settings or load_settings()
        app.extensions["affiliate"] = AffiliateState(settings, Database(settings.service.database_url))
        app.register_blueprint(bp, url_prefix=self.url_prefix)
        register_commands(app)


def state() -> AffiliateState:
    return current_app.extensions["affiliate"]


def create_app(settings: Settings | None = None) -> Flask:
    """The standalone service: widgets, JSON API and the demo page at /."""
    from affiliate.blueprint import demo_bp

    app = Flask(__name__, static_folder=None)
    Affiliate(app, settings)
    app.register_blueprint(demo_bp)
    return app
