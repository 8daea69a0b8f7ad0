"""Widget answers sent again before Flask is involved.

A memo hit inside Flask (affiliate.answer_memo) still pays for the request context, URL
routing and every before- and after-request hook: ~0.22 ms of CPU, against ~0.10 ms for a
plain Flask app's whole answer (bench/RESULTS.md). On a film site most widget requests repeat
one made moments ago, so this WSGI middleware answers those itself, exactly as the app sent
them (every hook's headers included), making again only what depends on the moment: the
cache lifetime left, the view counted, the request counted in the metrics. Any other request,
and any conditional one, goes to the app; the app's widget answers are kept as they go out.

It runs before every hook, so a host app whose own hooks must see every request (a login
check, say) should not install it; the standalone service's factory (affiliate.app) does.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterable

from affiliate import metrics
from affiliate.answer_memo import SENDING, Wire
from affiliate.cache import fresh_at
from affiliate.delivery import cache_control, seconds_left
from affiliate.types import utcnow

if TYPE_CHECKING:
    from flask import Flask

_REPEATABLE = ("GET", "HEAD")


class AnswerFront:
    """`app.wsgi_app = AnswerFront(app)`, after the Affiliate extension is set up."""

    def __init__(self, app: Flask):
        self.app = app.wsgi_app
        self.affiliate = app.extensions["affiliate"]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in _REPEATABLE or "HTTP_IF_NONE_MATCH" in environ:
            return self.app(environ, start_response)
        started = time.perf_counter()
        affiliate = self.affiliate
        affiliate.refresh_settings()  # as the app does first (affiliate.extension)
        found = affiliate.answers.wire(affiliate.answers.key(environ))
        now = utcnow()
        if found is not None and fresh_at(found.fresh_until, now):
            wire = found.wire
            headers = wire.headers
            if found.fresh_until is not None:
                left = cache_control(affiliate.settings.http,
                                     seconds_left(found.fresh_until, now))
                headers = [(name, left if name == "Cache-Control" else value)
                           for name, value in headers]
            if method == "GET" and wire.counts_view:
                affiliate.views.add(found.film_id, now)
            start_response(wire.status, list(headers))
            metrics.request_done(wire.route, 200, time.perf_counter() - started)
            return [found.body] if method == "GET" else []
        if method != "GET":
            return self.app(environ, start_response)
        return self._keep(environ, start_response)

    def _keep(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """The app's answer, kept in the memo as it went out if it is a widget's 200."""
        sent: list = []

        def keep_start(status, headers, exc_info=None):
            sent[:] = (status, headers)
            return start_response(status, headers, exc_info)

        body = self.app(environ, keep_start)
        sending = environ.get(SENDING)
        if (sending is None or not sent or not sent[0].startswith("200 ")
                or any(name.lower() == "set-cookie" for name, _ in sent[1])):
            return body
        try:
            content = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        memo_key, answer, counts_view = sending
        if content == answer.rendered.content.encode():  # no hook rewrote the body
            self.affiliate.answers.sent(memo_key, answer, Wire(
                sent[0], tuple(sent[1]), environ.get(metrics.ROUTE, "unmatched"), counts_view))
        return [content]
