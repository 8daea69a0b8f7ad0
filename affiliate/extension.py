"""The Flask extension a host app uses to embed the widgets: `Affiliate(app, settings)`."""
from __future__ import annotations

import logging

from flask import Flask

from affiliate.blueprint import PUBLIC_ENDPOINTS, bp
from affiliate.change_routes import PUBLIC_ENDPOINTS as CHANGES_ENDPOINTS
from affiliate.change_routes import changes_bp
from affiliate.command_index import register_commands
from affiliate.clicks_redirect import clicks_bp
from affiliate.config import Settings, load_settings
from affiliate.db import Database
from affiliate.delivery import keep_sessions_cookieless
from affiliate.state import AffiliateState, state

log = logging.getLogger(__name__)


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
        settings = self.settings or load_settings()
        for why in settings.uninstalled_providers.values():
            log.warning("%s; its stored data is still shown, and it is not refreshed", why)
        state = AffiliateState(settings, Database(settings.service.database_url))
        app.extensions["affiliate"] = state
        app.before_request(_follow_config)
        app.register_blueprint(bp, url_prefix=self.url_prefix)
        app.register_blueprint(changes_bp, url_prefix=self.url_prefix)
        app.register_blueprint(clicks_bp, url_prefix=self.url_prefix)
        keep_sessions_cookieless(app, PUBLIC_ENDPOINTS | CHANGES_ENDPOINTS)
        register_commands(app)


def _follow_config() -> None:
    """Config changes reach the process without a restart (affiliate.config_reload)."""
    state().refresh_settings()
