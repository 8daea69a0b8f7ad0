"""Routes of the lists of availability changes and their Atom feeds (`changes_bp`), and the
macro a host app calls to put a list in its own pages (`render_changes`).

As the film widgets (affiliate.blueprint): parameters are checked and named in a 400, the
view model comes from affiliate.change_lists, every link rendered was stored by the service,
and answers are public and cacheable. A list's rendering is cached, and its ETag named,
under the newest event's id: any new event makes a new key; the clock (a day boundary, an
offer's end) makes the view model's `fresh_until`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Callable, Iterable

from flask import (
    Blueprint,
    Response,
    get_template_attribute,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from affiliate import change_openapi, delivery
from affiliate.blueprint import MACROS, _base_url, _json, _negotiate, _page_parameter
from affiliate.cache import RenderKey
from affiliate.change_events import (
    EVENT_KINDS,
    OFFER_KINDS,
    EventFilter,
    find_events,
    newest_event_id,
    unknown_platforms,
)
from affiliate.change_feeds import FeedContext, atom
from affiliate.change_lists import LEAVING, LISTS, ChangesView, ListQuery, changes_view
from affiliate.film_pages import check_template
from affiliate.negotiation import BadParameter, checked
from affiliate.state import AffiliateState, state, templates_folder
from affiliate.types import utcnow
from affiliate.catalog import find_film
from affiliate.i18n import translations
from affiliate.widgets import DEFAULT_DISCLOSURE, FilmNotFound
from providers.base import FilmKey
from providers.regions import normalize_locale, normalize_region

changes_bp = Blueprint("affiliate_changes", __name__, template_folder=str(templates_folder()))
changes_bp.after_request(delivery.public_headers)  # nosniff and Referrer-Policy, as every public answer
# As blueprint.PUBLIC_ENDPOINTS: the same answer for every visitor, never with a cookie.
PUBLIC_ENDPOINTS = frozenset(f"{changes_bp.name}.{name}" for name in (
    "fragment", "frame", "api_changes", "feed_changes", "feed_film"))
_LISTS_ANY = "any(" + ", ".join(f'"{name}"' for name in LISTS) + "):list_name"
_LIST_PATH = f"/widgets/changes/<{_LISTS_ANY}>"
_FEED_TYPE = "application/atom+xml"


def render_changes(list_name: str, region: str | None = None, locale: str | None = None,
                   platforms: Iterable[str] = (), kinds: Iterable[str] = (),
                   days: int | None = None, film_url: str | None = None) -> Markup:
    """A list of changes for a host page (also a Jinja global of the same name): `list_name`
    one of change_lists.LISTS; `film_url` a template for the host's film pages, instead of
    the configured one. Region and locale as render_how_to_watch; a malformed parameter is a
    bug and raises BadParameter naming it."""
    affiliate = state()
    if list_name not in LISTS:
        raise BadParameter(f"list: {list_name!r} is not one of {', '.join(LISTS)}")
    if film_url is not None:
        checked("film_url", check_template, film_url)
    query = _query(affiliate, list_name, _values(platforms), _values(kinds),
                   None if days is None else str(days))
    negotiated = _negotiate(affiliate, region or _page_parameter("region", normalize_region),
                            locale or _page_parameter("locale", normalize_locale))
    rendered = _rendered(affiliate, list_name, f"host;film_url={film_url or ''}", query,
                         negotiated, lambda view: _macro(view), utcnow(), film_url)
    return Markup(rendered.content)


@changes_bp.record_once
def _register_jinja_global(setup_state) -> None:
    setup_state.app.jinja_env.globals["render_changes"] = render_changes


@changes_bp.get(_LIST_PATH)
def fragment(list_name: str):
    """An HTML fragment for any page (embed.js fetches it), its stylesheet linked absolutely."""
    return _deliver(list_name, "fragment", lambda view: render_template(
        "affiliate/fragment.html", widget=_macro(view, external=True)), "text/html")


@changes_bp.get(_LIST_PATH + "/frame")
def frame(list_name: str):
    """A whole page for an <iframe>, as the film widgets' (frame.js reports its height)."""
    def page(view: ChangesView) -> str:
        return render_template("affiliate/frame.html", widget=_macro(view), view=view,
                               title=view.heading, widget_name=f"changes-{list_name}")

    return delivery.frameable(_deliver(list_name, "frame", page, "text/html"), state().settings.http)


@changes_bp.get(f"/api/v1/changes/<{_LISTS_ANY}>")
def api_changes(list_name: str):
    return _deliver(list_name, "api", lambda view: _json(_changes_json(view)), "application/json")


@changes_bp.get("/feeds/changes.atom")
def feed_changes():
    """Every kind of change (or those of ?event=) in the period, newest first."""
    affiliate = state()
    args = request.args
    regions = frozenset(checked("region", normalize_region, value)
                        for value in _values(args.getlist("region")))
    platforms, kinds = _platforms(affiliate, args.getlist("platform")), _kinds(args.getlist("kind"))
    events = _choices("event", args.getlist("event"), EVENT_KINDS)
    days = _days(affiliate, args.get("days"), affiliate.settings.changes.max_days)
    locale = _locale(affiliate)
    key = f"changes?days={days}&" + "&".join(f"{name}={','.join(sorted(values))}" for name, values in (
        ("region", regions), ("platform", platforms), ("kind", kinds), ("event", events))
        if values)
    return _feed(affiliate, key, locale, translations(locale).gettext("Availability changes"),
                 EventFilter(regions=regions, platforms=platforms, kinds=kinds, events=events,
                             since=utcnow() - dt.timedelta(days=days)))


@changes_bp.get("/feeds/films/<film>.atom")
def feed_film(film: str):
    """Every change to the film's offers (or those of ?region=), newest first."""
    affiliate = state()
    key = checked("film", FilmKey.parse, film)
    with affiliate.db.session() as session:
        found = find_film(session, key)
    if found is None:
        raise FilmNotFound(f"no film matches {key}")
    regions = frozenset(checked("region", normalize_region, value)
                        for value in _values(request.args.getlist("region")))
    locale = _locale(affiliate)
    title = f"{found.title} ({found.year})" if found.year else found.title
    return _feed(affiliate, f"films/{found.id}?region={','.join(sorted(regions))}", locale,
                 translations(locale).gettext("Where to watch {film}: changes").format(film=title),
                 EventFilter(regions=regions, film_ids=frozenset({found.id})))


def _feed(affiliate: AffiliateState, key: str, locale: str, title: str,
          which: EventFilter) -> Response:
    """A feed's ETag is named after the newest event (and the day, which moves the period),
    so a reader polling it costs one query until something changes."""
    now = utcnow()
    settings = affiliate.settings
    newest = newest_event_id(affiliate.db)
    etag = _digest(affiliate.fragments.version, newest, now.date(), key, locale, request.url)
    if delivery.not_modified(etag):
        return delivery.shareable(Response(status=304), settings.http, etag, ())
    events = find_events(affiliate.db, dataclasses.replace(
        which, limit=settings.changes.feed_entries), now)
    t = translations(locale)
    used = sorted({event.source for event in events})
    context = FeedContext(
        title=title, key=key, self_url=request.url, locale=locale,
        film_url=settings.changes.film_url, link_tags=settings.link_tags,
        go_url=lambda target: url_for("affiliate_clicks.go", target=target, _external=True),
        attributions=_credits(affiliate, used),
        disclosure=settings.widgets.disclosure or t.gettext(DEFAULT_DISCLOSURE))
    response = Response(atom(events, context), mimetype=_FEED_TYPE)
    return delivery.shareable(response, settings.http, etag, ())


def _deliver(list_name: str, mode: str, render: Callable[[ChangesView], str],
             mimetype: str) -> Response:
    """As blueprint._deliver for a film's widget: 304 while the ETag is current, else the
    cached or freshly rendered body."""
    affiliate = state()
    args = request.args
    query = _query(affiliate, list_name, args.getlist("platform"), args.getlist("kind"),
                   args.get("days"))
    negotiated = _negotiate(affiliate, args.get("region"), args.get("locale"))
    now = utcnow()
    rendered = _rendered(affiliate, list_name, mode, query, negotiated, render, now)
    if delivery.not_modified(rendered.etag):
        response = Response(status=304)
    else:
        response = Response(rendered.content, mimetype=mimetype)
    return delivery.shareable(response, affiliate.settings.http, rendered.etag, negotiated.vary,
                              int((rendered.fresh_until - now).total_seconds()))


def _rendered(affiliate: AffiliateState, list_name: str, mode: str, query: ListQuery,
              negotiated, render: Callable[[ChangesView], str], now: dt.datetime,
              film_url: str | None = None):
    """Kept in the widgets' cache: a list has no film, so its key holds 0 for the film and
    the newest event's id where a film's revision goes."""
    filters = ";".join([mode, f"platform={','.join(sorted(query.platforms))}",
                        f"kind={','.join(sorted(query.kinds))}", f"days={query.days}"])
    key = RenderKey(f"changes-{list_name}", filters, 0, newest_event_id(affiliate.db),
                    negotiated.region, negotiated.locale, _base_url())

    def build() -> tuple[str, dt.datetime | None]:
        view = changes_view(affiliate.db, list_name, negotiated.region, negotiated.locale,
                            affiliate.settings, query, now, affiliate.sources, film_url)
        return render(view), view.fresh_until

    return affiliate.fragments.get_or_render(key, now, build)


def _macro(view: ChangesView, external: bool = False) -> Markup:
    return get_template_attribute(MACROS, "changes")(view, external=external)


def _query(affiliate: AffiliateState, list_name: str, platforms: Iterable[str],
           kinds: Iterable[str], days: str | None) -> ListQuery:
    settings = affiliate.settings.changes
    longest = settings.max_days
    if list_name == LEAVING and settings.leaving_days:
        longest = min(longest, settings.leaving_days)  # nothing further is announced
    return ListQuery(_platforms(affiliate, platforms), _kinds(kinds),
                     _days(affiliate, days, longest))


def _values(raw: Iterable[str]) -> list[str]:
    """A filter's values, repeated (?kind=rent&kind=buy) or comma-separated (?kind=rent,buy)."""
    values = {value.strip() for item in raw for value in item.split(",")}
    values.discard("")
    return sorted(values)


def _choices(name: str, raw: Iterable[str], allowed: Iterable[str]) -> frozenset[str]:
    values, known = _values(raw), list(allowed)
    unknown = [value for value in values if value not in known]
    if unknown:
        raise BadParameter(f"{name}: {unknown[0]!r} is not one of {', '.join(known)}")
    return frozenset(values)


def _kinds(raw: Iterable[str]) -> frozenset[str]:
    return _choices("kind", raw, OFFER_KINDS)


def _platforms(affiliate: AffiliateState, raw: Iterable[str]) -> frozenset[str]:
    slugs = _values(raw)
    # A value no slug can be (too long, or holding a control character such as the NUL that
    # PostgreSQL refuses in text) is unknown without asking the database.
    unknown = [slug for slug in slugs if len(slug) > 64 or not slug.isprintable()]
    unknown = unknown or unknown_platforms(affiliate.db, slugs)
    if unknown:
        raise BadParameter(f"platform: {unknown[0]!r} is not a platform of the catalog")
    return frozenset(slugs)


def _days(affiliate: AffiliateState, raw: str | None, longest: int) -> int:
    if raw is None:
        return min(affiliate.settings.changes.default_days, longest)
    try:
        days = int(raw)
    except ValueError:
        raise BadParameter(f"days: {raw!r} is not a whole number of days") from None
    if not 1 <= days <= longest:
        raise BadParameter(f"days: {days} is outside 1 to {longest}, the configured maximum")
    return days


def _locale(affiliate: AffiliateState) -> str:
    """A feed's language: ?locale=, else the default (a feed reader's headers are not the
    visitor's)."""
    raw = request.args.get("locale")
    if raw:
        return checked("locale", normalize_locale, raw)
    return affiliate.settings.service.default_locale


def _credits(affiliate: AffiliateState, used: Iterable[str]):
    return tuple(dict.fromkeys(credit for source in used
                               for credit in affiliate.sources.terms(source).attributions))


def _digest(*parts) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def _changes_json(view: ChangesView) -> dict:
    return dict(
        list=view.list, region=view.region, region_name=view.region_name,
        start=view.start.isoformat(), end=view.end.isoformat(),
        days=[{"date": group.day.isoformat(), "label": group.label, "entries": [{
            "event": entry.event, "event_ids": list(entry.event_ids),
            "film": {"id": entry.film.id, "ref": entry.film.ref, "title": entry.film.title,
                     "year": entry.film.year, "imdb_id": entry.film.imdb_id,
                     "tmdb_id": entry.film.tmdb_id, "poster_url": entry.poster_url,
                     "page_url": entry.film_url},
            "platform": {"name": entry.platform, "slug": entry.slug, "logo_url": entry.logo_url},
            "kind": entry.kind, "text": entry.text, "link": entry.link,
            "price": _price_json(entry.price), "price_before": _price_json(entry.price_before),
        } for entry in group.entries]} for group in view.groups],
        sources=list(view.sources),
        attributions=[{"text": credit.text, "url": credit.url} for credit in view.attributions],
        disclosures=[view.disclosure],
    )


def _price_json(price) -> dict | None:
    """Amounts as decimal strings ("3.99"), as the films API writes them."""
    if price is None:
        return None
    return {"price": str(price.amount), "currency": price.currency, "formatted": price.text}


def _error(exc: Exception, status: int) -> Response:
    """JSON for the API, plain text for feeds, a one-line fragment for the HTML lists."""
    if request.endpoint == f"{changes_bp.name}.api_changes":
        response = Response(_json({"error": str(exc)}), mimetype="application/json")
    elif request.endpoint and request.endpoint.startswith(f"{changes_bp.name}.feed_"):
        response = Response(str(exc), mimetype="text/plain")
    else:
        response = Response(Markup('<p class="affiliate-error">{}</p>').format(str(exc)))
    response.status_code = status
    return delivery.not_stored(response)


changes_bp.register_error_handler(BadParameter, lambda exc: _error(exc, 400))
changes_bp.register_error_handler(FilmNotFound, lambda exc: _error(exc, 404))
change_openapi.register_paths()
