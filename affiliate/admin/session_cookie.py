"""Flask's `session` for the console, kept on the server (affiliate.admin.sessions): the
cookie carries only the session's random id, nothing signed, nothing readable.

A visitor who has not logged in gets an id too, once a page needs one (the login form's
CSRF token is derived from it), but no row: rows are made by a login, or by a notice
flashed to a browser that just logged out. Outside the console (the widgets, the admin API,
which reads no cookie) the app's previous session interface answers, unchanged.
"""
from __future__ import annotations

import json

from flask import Flask, Request, Response, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from affiliate.admin import sessions
from affiliate.admin.api_spec import PREFIX as API_PREFIX
from affiliate.admin.state import PREFIX
from affiliate.state import state


class ConsoleSession(CallbackDict, SessionMixin):
    """The session's data (flashed notices) and whose it is. `session_id` is None until a
    page needs one; `sent_id` is the id the browser's cookie holds."""

    def __init__(self, session_id: str | None = None, user_id: int | None = None,
                 data: dict | None = None, stored: bool = False):
        def on_update(self):
            self.modified = True

        super().__init__(data or {}, on_update)
        self.session_id = self.sent_id = session_id
        self.user_id, self.stored, self.modified = user_id, stored, False

    def ensure_id(self) -> str:
        if self.session_id is None:
            self.session_id = sessions.new_id()
        return self.session_id

    def restart(self, session_id: str | None, user_id: int | None) -> None:
        """Go on as a stored login, or (None, None) as a visitor with no id yet."""
        self.clear()
        self.session_id, self.user_id, self.stored = session_id, user_id, user_id is not None
        self.modified = False


def console_session() -> ConsoleSession:
    return session  # type: ignore[return-value]  (ConsoleSessions installs it)


def in_console(path: str) -> bool:
    inside = path == PREFIX or path.startswith(PREFIX + "/")
    return inside and not (path == API_PREFIX or path.startswith(API_PREFIX + "/"))


class ConsoleSessions(SessionInterface):
    """Console sessions under /admin; elsewhere (pages an app adds to the service) the
    interface that was there before."""

    def __init__(self, inner: SessionInterface):
        self.inner = inner

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if not in_console(request.path):
            return self.inner.open_session(app, request)
        sent = request.cookies.get(self.get_cookie_name(app))
        if not sessions.well_formed(sent):
            return ConsoleSession()
        now, lifetimes = sessions.clock(), _lifetimes()
        row = sessions.find(state().db, sent, now, lifetimes)
        if row is None:  # never stored, ended or expired: a visitor who may log in
            return ConsoleSession(sent)
        if row.user_id is not None and now - row.last_seen_at >= sessions.SEEN_RESOLUTION:
            sessions.touch(state().db, sent, now)
        return ConsoleSession(sent, row.user_id, json.loads(row.data), stored=True)

    def make_null_session(self, app: Flask):
        return self.inner.make_null_session(app)

    def is_null_session(self, obj: object) -> bool:
        return self.inner.is_null_session(obj)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ConsoleSession):
            self.inner.save_session(app, session, response)
            return
        response.vary.add("Cookie")
        if session.modified:
            self._store(session)
        name = self.get_cookie_name(app)
        if session.session_id == session.sent_id:
            return
        if session.session_id is None:
            response.delete_cookie(name, path=self.get_cookie_path(app),
                                   domain=self.get_cookie_domain(app))
            return
        response.set_cookie(
            name, session.session_id, expires=self._expires(session),
            path=self.get_cookie_path(app), domain=self.get_cookie_domain(app),
            secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
            samesite=self.get_cookie_samesite(app))

    @staticmethod
    def _store(session: ConsoleSession) -> None:
        db, now, data = state().db, sessions.clock(), json.dumps(dict(session))
        if session.stored and (session or session.user_id is not None):
            sessions.touch(db, session.session_id, now, data)
        elif session.stored:  # a visitor's notices, all shown now
            sessions.end(db, session.session_id)
            session.stored = False
        elif session:  # a notice for a visitor (one who just logged out), kept for the next page
            session.session_id = sessions.begin(db, None, "", now, _lifetimes(), data)
            session.stored = True

    @staticmethod
    def _expires(session: ConsoleSession):
        """A login's cookie ends with the login's absolute lifetime; a visitor's with the
        browser session."""
        if session.user_id is None:
            return None
        return sessions.clock() + _lifetimes().absolute


def _lifetimes() -> sessions.Lifetimes:
    return sessions.Lifetimes.of(state().settings.admin)
