"""CSRF protection for the console: one random token per session, sent back by every form
(hidden field) or script (X-CSRF-Token header) and checked on every unsafe method.

Only the console needs it: it is the part authenticated by a cookie. The admin API takes a
bearer token that a browser never sends by itself.
"""
from __future__ import annotations

import secrets

from flask import request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_KEY = "admin_csrf"


class CsrfRejected(Exception):
    """An unsafe request without this session's token: forged, or from a page of an older
    session (the token changes at login)."""


def token() -> str:
    """This session's token, made on first use."""
    if _KEY not in session:
        session[_KEY] = secrets.token_urlsafe(32)
    return session[_KEY]


def check() -> None:
    """Raise CsrfRejected unless a safe method, or the session's token was sent back."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER)
    if not expected or not sent or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("this form is out of date or did not come from the console "
                           "(its CSRF token is missing or wrong); reload the page and try again")
