"""The standalone service's app factory (`gunicorn "affiliate.app:create_app()"`): the widgets
of affiliate.extension, the demo page and the operator console."""
from __future__ import annotations

from flask import Flask

from affiliate.admin.setup import init_admin
from affiliate.blueprint import demo_bp
from affiliate.delivery import public_headers
from affiliate.config import Settings
from affiliate.extension import Affiliate


def create_app(settings: Settings | None = None) -> Flask:
    """The standalone service: widgets, JSON API, the demo page at / and the operator
    console and admin API at /admin."""
    app = Flask(__name__, static_folder=None)
    Affiliate(app, settings)
    app.register_blueprint(demo_bp)
    affiliate = app.extensions["affiliate"]
    init_admin(app, affiliate.settings, affiliate.db)
    # Every answer of the standalone service is public, a 404 for a mistyped path included,
    # but the console's: its stricter headers (affiliate.admin.setup) replace these.
    app.after_request(public_headers)
    return app
