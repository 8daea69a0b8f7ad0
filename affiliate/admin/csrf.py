"""CSRF protection for the console: one token per session, sent back by every form (hidden
field) or script (X-CSRF-Token header) and checked on every unsafe method.

The token is an HMAC of the session id under the secret key: nothing to store (the login form
needs one before there is a session row), it changes with the session id at login, and the
page it is written into does not reveal the id.

Only the console needs it: it is the part authenticated by a cookie. The admin API takes a
bearer token that a browser never sends by itself.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, request

from affiliate.admin.session_cookie import console_session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRejected(Exception):
    """An unsafe request without this session's token: forged, or from a page of an older
    session (the token changes at login)."""


def token() -> str:
    """This session's token (the session gets its id on first use)."""
    return _token_for(console_session().ensure_id())


def check() -> None:
    """Raise CsrfRejected unless a safe method, or the session's token was sent back."""
    if request.method in SAFE_METHODS:
        return
    session_id = console_session().session_id
    sent = request.form.get(FIELD) or request.headers.get(HEADER)
    if not session_id or not sent or not secrets.compare_digest(sent.encode(),
                                                                _token_for(session_id).encode()):
        raise CsrfRejected("this form is out of date or did not come from the console "
                           "(its CSRF token is missing or wrong); reload the page and try again")


def _token_for(session_id: str) -> str:
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()
