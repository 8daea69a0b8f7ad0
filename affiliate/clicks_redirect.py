"""The click routes, a blueprint of their own mounted beside the widgets': GET /go/<target>
counts a click and redirects to the stored link; POST /go/<target>/beacon counts a click on a
link shown directly (Amazon's), sent by static/beacon.js.

Neither ever sends a visitor anywhere a request names: the target is an offer or product id
and the destination is the link stored for it. Answers are never cached and never indexed.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from affiliate import click_limit, clicks, delivery, metrics
from affiliate.client_address import client_address
from affiliate.state import state
from affiliate.types import utcnow

log = logging.getLogger(__name__)

clicks_bp = Blueprint("affiliate_clicks", __name__)
clicks_bp.after_request(delivery.public_headers)

_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
_BEACON = "/beacon"  # go_beacon's path after go's


class GoLinks:
    """The URLs of the two routes below for one widget render (the Jinja global `go_links`,
    which the widget macros call once each). url_for is asked once per render instead of
    twice per row, where it cost a third of the template's time; a target is always
    "o<id>" or "p<id>", which needs no quoting."""

    _SLOT = "__target__"

    def __init__(self, external: bool = False):
        self._go = url_for("affiliate_clicks.go", target=self._SLOT, _external=external)

    def go(self, target: str, film: int | None = None) -> str:
        return self._fill(self._go, target, film)

    def beacon(self, target: str, film: int | None = None) -> str:
        return self._fill(self._go + _BEACON, target, film)

    def _fill(self, url: str, target: str, film: int | None) -> str:
        url = url.replace(self._SLOT, target)
        return url if film is None else f"{url}?film={int(film)}"


@clicks_bp.record_once
def _register_jinja_global(setup_state) -> None:
    setup_state.app.jinja_env.globals["go_links"] = GoLinks


@clicks_bp.get("/go/<target>")
def go(target: str):
    try:
        where = _destination(target)
    except clicks.UnknownTarget as exc:
        return _not_found(str(exc))
    if where.direct:
        # Amazon's programme forbids a redirect that hides its link; the widgets link it as is.
        return _not_found(f"{target} links to its store directly; its clicks are counted by "
                          f"POST /go/{target}/beacon")
    _count(where, clicks.REDIRECT)
    response = redirect(where.url, 302)
    response.headers.update(_HEADERS)
    return response


@clicks_bp.post("/go/<target>" + _BEACON)
def go_beacon(target: str):
    try:
        where = _destination(target)
    except clicks.UnknownTarget as exc:
        return _not_found(str(exc))
    if not where.direct:
        return _not_found(f"{target} is counted when /go/{target} redirects; it takes no beacon")
    _count(where, clicks.BEACON)
    return Response(status=204, headers=_HEADERS)


def _destination(target: str) -> clicks.Destination:
    """`film` (which film a shared product was clicked with) is read only for the report."""
    affiliate = state()
    return clicks.destination(affiliate.db, target, affiliate.settings.link_tags,
                              film_id=request.args.get("film", type=int))


def _count(where: clicks.Destination, via: str) -> None:
    """Counting must never cost the visitor the page they clicked for. A visitor's clicks on
    a link count up to `clicks.per_visitor` per window (affiliate.click_limit)."""
    if not clicks.is_counted(request.method, request.headers):
        return
    affiliate, now = state(), utcnow()
    settings = affiliate.settings
    try:
        if click_limit.take(affiliate.db, settings.clicks,
                            client_address(settings.admin.proxy_hops),
                            request.headers.get("User-Agent", ""), where.target, now):
            clicks.record_click(affiliate.db, where, via, now)
    except SQLAlchemyError:
        log.exception("could not count a click on %s", where.target)
        return
    metrics.click(where.widget, via)


def _not_found(reason: str) -> Response:
    return Response(reason, status=404, mimetype="text/plain", headers=_HEADERS)
