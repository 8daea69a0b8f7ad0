"""The standalone service's app factory (`gunicorn "affiliate.app:create_app()"`): the widgets
of affiliate.extension, the demo page and the operator console."""
from __future__ import annotations

import logging

from flask import Flask

from affiliate.admin.setup import init_admin
from affiliate.answer_front import AnswerFront
from affiliate.blueprint import demo_bp
from affiliate.delivery import public_headers
from affiliate.config import Settings
from affiliate.config_reload import load_or_last_good
from affiliate.extension import Affiliate
from affiliate.logs import configure_logging, follow_settings, init_request_context
from affiliate.metrics_export import init_metrics
from affiliate.probes import init_probes


def create_app(settings: Settings | None = None) -> Flask:
    """The standalone service: widgets, JSON API, the demo page at /, the operator
    console and admin API at /admin, health probes and (when configured) metrics."""
    settings = settings or load_or_last_good()
    handler = None
    if not logging.getLogger().handlers:
        # Nobody configured logging (gunicorn does not): [logging] decides, before anything logs.
        handler = configure_logging(settings.logging)
    app = Flask(__name__, static_folder=None)
    Affiliate(app, settings)
    app.register_blueprint(demo_bp)
    affiliate = app.extensions["affiliate"]
    init_admin(app, affiliate.settings, affiliate.db)
    # Every answer of the standalone service is public, a 404 for a mistyped path included,
    # but the console's: its stricter headers (affiliate.admin.setup) replace these.
    app.after_request(public_headers)
    init_probes(app)
    init_metrics(app)
    init_request_context(app)
    if handler is not None:
        affiliate.listeners.append(lambda new: follow_settings(handler, new.logging))
    app.wsgi_app = AnswerFront(app)  # repeated widget requests answered before Flask
    return app
