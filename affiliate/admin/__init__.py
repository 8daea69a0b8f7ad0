"""The operator's side of the service: the console at /admin (HTML, login with a password,
CSRF-checked forms) and the admin JSON API at /admin/api/v1 (bearer tokens), both calling
the same refresh, catalog and curation functions as the CLI.

Every response under /admin forbids framing, loading anything from elsewhere and caching.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask, current_app, request

from affiliate.admin.work import Refresher
from affiliate.config import Settings
from affiliate.db import Database

PREFIX = "/admin"
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                                "base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class AdminState:
    refresher: Refresher
    console_enabled: bool  # False without admin.secret_key: the console says how to set it


def init_admin(app: Flask, settings: Settings, db: Database) -> None:
    """Add the console and the admin API to the standalone app."""
    from affiliate.admin import api_spec  # describes the admin API in the OpenAPI document
    from affiliate.admin.api import bp as api_bp
    from affiliate.admin.views import bp as console_bp

    secret = settings.admin.secret_key
    if secret is not None:
        app.secret_key = secret.get_secret_value()
    app.config.update(
        SESSION_COOKIE_NAME="affiliate_admin",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.admin.secure_cookie,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.admin.session_hours),
    )
    app.extensions["affiliate_admin"] = AdminState(Refresher(db, settings), secret is not None)
    app.register_blueprint(api_bp, url_prefix=api_spec.PREFIX)
    app.register_blueprint(console_bp, url_prefix=PREFIX)
    app.after_request(_security_headers)


def admin_state() -> AdminState:
    return current_app.extensions["affiliate_admin"]


def _security_headers(response):
    """On every /admin response, a 404 for a mistyped path included."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers.update(SECURITY_HEADERS)
    return response
