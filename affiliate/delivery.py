"""The HTTP terms of the public widget responses: conditional requests, cache lifetimes,
cross-origin use and framing, and no cookies, so any browser or CDN may keep and share them.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from flask import Flask, Request, Response, request, request_started
from flask.sessions import SessionInterface, SessionMixin

from affiliate.config import HttpSettings

# On every public answer (widgets, JSON, static files, /go/ redirects, errors, the demo page).
# nosniff: a browser never runs a fragment or a JSON answer as a script or stylesheet of
# another type. strict-origin-when-cross-origin: an affiliate network a click is redirected
# to still sees which site sent the visitor (its origin, which programmes check against the
# registered site), but never the path of the page; same-origin requests keep the whole URL.
PUBLIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def not_modified(etag: str) -> bool:
    """Whether the visitor holds `etag`. Most requests send none, or exactly the one ETag a
    browser or CDN was given: both are answered before werkzeug parses the header."""
    sent = request.environ.get("HTTP_IF_NONE_MATCH")
    if not sent:
        return False
    if sent in (f'W/"{etag}"', f'"{etag}"'):
        return True
    return request.if_none_match.contains_weak(etag)


def shareable(response: Response, http: HttpSettings, etag: str | None, vary: Iterable[str],
              seconds_left: int | None = None) -> Response:
    """Headers of a successful widget or API answer (a 200 or its 304). `seconds_left`: the
    content turns wrong by the clock then (a price past its age limit), so no cache may keep
    it longer, nor serve it stale."""
    headers = response.headers
    if etag:
        headers["ETag"] = f'W/"{etag}"'  # a hex digest: nothing to quote
    headers["Cache-Control"] = cache_control(http, seconds_left)
    if vary:
        response.vary.update(vary)
    return cross_origin(response)


def cache_control(http: HttpSettings, seconds_left: int | None) -> str:
    if seconds_left is None:
        return (f"public, max-age={http.max_age}, s-maxage={http.s_maxage}, "
                f"stale-while-revalidate={http.stale_while_revalidate}")
    left = max(0, seconds_left)
    return f"public, max-age={min(http.max_age, left)}, s-maxage={min(http.s_maxage, left)}"


def seconds_left(fresh_until: dt.datetime | None, now: dt.datetime) -> int | None:
    """What `shareable` is given: whole seconds until the content turns wrong by the clock."""
    return None if fresh_until is None else int((fresh_until - now).total_seconds())


def cross_origin(response: Response) -> Response:
    """Public data: any site's script may read it (embed.js fetches fragments this way)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def not_stored(response: Response) -> Response:
    """An error answer: readable cross-origin (embed.js sees the 404), never kept."""
    response.headers["Cache-Control"] = "no-store"
    return cross_origin(response)


def public_headers(response: Response) -> Response:
    """An after_request hook: the headers above, unless the answer already set its own
    (the console's stricter ones win)."""
    for name, value in PUBLIC_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def frameable(response: Response, http: HttpSettings) -> Response:
    """The iframe page may be shown by the sites configured (any, by default)."""
    response.headers.pop("X-Frame-Options", None)
    response.headers["Content-Security-Policy"] = "frame-ancestors " + " ".join(http.frame_ancestors)
    return response


class CookielessSessions(SessionInterface):
    """The app's own session interface, except that public endpoints never save the session
    nor carry any cookie (nor `Vary: Cookie`), even when the host app uses sessions: a shared
    cache must not hand one visitor's cookie to the next."""

    def __init__(self, inner: SessionInterface, public_endpoints: set[str] | frozenset[str]):
        self.inner = inner
        self.public_endpoints = public_endpoints

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self.inner.open_session(app, request)

    def make_null_session(self, app: Flask):
        return self.inner.make_null_session(app)

    def is_null_session(self, obj: object) -> bool:
        return self.inner.is_null_session(obj)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if request.endpoint in self.public_endpoints:
            response.headers.remove("Set-Cookie")
            return
        self.inner.save_session(app, session, response)


def keep_sessions_cookieless(app: Flask, public_endpoints: Iterable[str]) -> None:
    """Wrap the app's session interface in CookielessSessions now, and again whenever a
    request finds it replaced: Flask-Session's `Session(app)`, say, installs its own and is
    as often set up after `Affiliate(app)` as before. Checked as each request starts,
    before any of the app's own before_request functions can answer it. Called again for
    the same app (the standalone service's probes), it adds the endpoints named."""
    known = app.extensions.get("affiliate_cookieless")
    if known is not None:
        known.update(public_endpoints)
        return
    known = app.extensions["affiliate_cookieless"] = set(public_endpoints)

    def wrap(sender: Flask, **_extra) -> None:
        if not isinstance(sender.session_interface, CookielessSessions):
            sender.session_interface = CookielessSessions(sender.session_interface, known)

    wrap(app)
    request_started.connect(wrap, app, weak=False)
