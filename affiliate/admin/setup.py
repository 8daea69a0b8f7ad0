"""Adds the operator console (/admin) and the admin API (/admin/api/v1) to the standalone
app, with the security headers every /admin answer carries."""
from __future__ import annotations

from flask import Flask, request

from affiliate.admin import api_spec  # noqa: F401  (describes the admin API in the OpenAPI document)
from affiliate.api_errors import answer_routing_errors_as_json
from affiliate.admin.api import bp as api_bp
from affiliate.admin.session_cookie import ConsoleSessions
from affiliate.admin.state import PREFIX, AdminState
from affiliate.admin.views import bp as console_bp
from affiliate.admin.work import Refresher
from affiliate.config import Settings
from affiliate.db import Database

SECURITY_HEADERS = {
    # Product thumbnails come from the sources' image hosts (https only); nothing else may.
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; "
                                "form-action 'self'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_admin(app: Flask, settings: Settings, db: Database) -> None:
    """Add the console and the admin API to the standalone app."""
    secret = settings.admin.secret_key
    if secret is not None:
        app.secret_key = secret.get_secret_value()
    app.config.update(
        SESSION_COOKIE_NAME="affiliate_admin",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.admin.secure_cookie,
    )
    app.session_interface = ConsoleSessions(app.session_interface)
    refresher = Refresher(db, settings)
    app.extensions["affiliate"].listeners.append(lambda new: setattr(refresher, "settings", new))
    app.extensions["affiliate_admin"] = AdminState(refresher, secret is not None)
    app.register_blueprint(api_bp, url_prefix=api_spec.PREFIX)
    answer_routing_errors_as_json(app, PREFIX + "/api/")
    app.register_blueprint(console_bp, url_prefix=PREFIX)
    app.after_request(_security_headers)


def _security_headers(response):
    """On every /admin response, a 404 for a mistyped path included."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers.update(SECURITY_HEADERS)
    return response
