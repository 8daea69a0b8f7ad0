"""Routes: the widget fragments, iframe pages and the JSON API (`bp`), the standalone demo
page (`demo_bp`), and the helpers a host app calls to render the widgets inside its own pages.

Views only check request parameters, ask `affiliate.widgets` for a view model and render it;
every link they render was stored by the service, never taken from the request. Every widget
is delivered the same way (`_deliver`): the same request answered moments ago is answered
alike (affiliate.answer_memo); otherwise region and locale are negotiated
(affiliate.negotiation), the film's id and revision read (or kept from a read seconds ago:
affiliate.film_memo) and the rendering cached under them taken (or made and cached:
affiliate.cache); then a 304 if the visitor holds its ETag, else the rendering, with the
HTTP terms of affiliate.delivery.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Callable, NamedTuple

from flask import (
    Blueprint,
    Response,
    after_this_request,
    current_app,
    get_template_attribute,
    has_request_context,
    jsonify,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import InternalServerError

from affiliate import delivery, openapi, widgets
from affiliate.api_errors import answer_routing_errors_as_json, json_error
from affiliate.answer_memo import SENDING, Answer
from affiliate.cache import Rendered, RenderKey
from affiliate.film_rows import FilmRow
from affiliate.negotiation import BadParameter, Negotiated, checked, negotiate
from affiliate.state import AffiliateState, state, templates_folder
from affiliate.static_files import STATIC_FOLDER, WidgetBlueprint, add_version
from affiliate.types import utcnow
from providers.base import FilmKey, OfferKind, ProductFormat, Relation
from providers.regions import normalize_locale, normalize_region, region_name

bp = WidgetBlueprint("affiliate", __name__, template_folder=str(templates_folder()),
                     static_folder=str(STATIC_FOLDER), static_url_path="/affiliate/static")
bp.url_defaults(add_version)

MACROS = "affiliate/macros.html"
# The demo page's region switcher: the demo catalog's two storefronts (and their currencies).
DEMO_REGIONS = ("US", "GB")
# Answers that are the same for every visitor with the same URL and negotiated headers: a
# CDN may keep and share them, so they never carry a cookie (affiliate.delivery).
PUBLIC_ENDPOINTS = frozenset(f"{bp.name}.{name}" for name in (
    "static", "fragment", "frame", "api_offers", "api_products", "openapi_json"))

__all__ = ["BadParameter", "bp", "demo_bp", "render_how_to_watch", "render_related_products"]


class _Widget(NamedTuple):
    build: Callable  # the view-model builder in affiliate.widgets
    macro: str  # its macro in MACROS


_WIDGETS = {
    "how-to-watch": _Widget(widgets.how_to_watch, "how_to_watch"),
    "related-products": _Widget(widgets.related_products, "related_products"),
}


def render_how_to_watch(film_ref: str, region: str | None = None,
                        locale: str | None = None, layout: str = "list") -> Markup:
    """The How to Watch widget for a host page (also a Jinja global of the same name).

    Region and locale not given come from the page's own `region`/`locale` parameters (the
    region switcher sets them), else its request headers (the page's response then varies on
    them), else the defaults. A film the catalog does not know yet renders as
    nothing, so a host's film page never breaks over it; a malformed reference, region,
    locale or layout (one of widgets.LAYOUTS) is a bug and raises BadParameter.
    """
    return _render_for_host("how-to-watch", film_ref, region, locale, layout)


def render_related_products(film_ref: str, region: str | None = None,
                            locale: str | None = None, layout: str = "list") -> Markup:
    """The Related Products widget for a host page; behaves as `render_how_to_watch`."""
    return _render_for_host("related-products", film_ref, region, locale, layout)


@bp.record_once
def _register_app_hooks(setup_state) -> None:
    setup_state.app.jinja_env.globals.update(
        render_how_to_watch=render_how_to_watch,
        render_related_products=render_related_products,
    )
    answer_routing_errors_as_json(setup_state.app, f"{setup_state.url_prefix or ''}/api/")


def _render_for_host(widget: str, film_ref: str, region: str | None, locale: str | None,
                     layout: str) -> Markup:
    affiliate = state()
    layout = _layout(layout)
    negotiated = _negotiate(affiliate, region or _page_parameter("region", normalize_region),
                            locale or _page_parameter("locale", normalize_locale))
    if negotiated.vary and has_request_context():
        @after_this_request
        def _vary(response: Response) -> Response:
            response.vary.update(negotiated.vary)
            return response
    try:
        film = _film(affiliate, checked("film", FilmKey.parse, film_ref))
    except widgets.FilmNotFound:
        return Markup("")
    now = utcnow()
    _count_view(affiliate, widget, film.id, now)
    rendered = _rendered(affiliate, widget, _layout_mode("host", layout), film, negotiated,
                         lambda view: _macro(widget, view, layout=layout), now)
    return Markup(rendered.content)


def _page_parameter(name: str, parse: Callable[[str], str]) -> str | None:
    """The host page's own ?region= or ?locale=, which the widgets' region switcher sets;
    one that does not parse is skipped, since it is not the host's bug."""
    value = request.args.get(name) if has_request_context() else None
    try:
        return parse(value) if value else None
    except ValueError:
        return None


def _count_view(affiliate: AffiliateState, widget: str, film_id: int, now: dt.datetime) -> None:
    """One view per page (the How to Watch box) makes a film popular, so it refreshes
    sooner: a 304 is a view, a HEAD is not. Counted in memory (affiliate.view_counts): the
    request writes nothing."""
    if widget != "how-to-watch" or (has_request_context() and request.method == "HEAD"):
        return
    affiliate.views.add(film_id, now)


def _negotiate(affiliate: AffiliateState, region: str | None, locale: str | None) -> Negotiated:
    """Region and locale from the parameters, else the request's headers, else the defaults."""
    headers = request.headers if has_request_context() else {}
    return negotiate(region, locale, headers, affiliate.preferences)


def _film(affiliate: AffiliateState, key: FilmKey) -> FilmRow:
    """The film's row (for its id and revision), read at most every
    `http.revision_check_seconds` in this process (affiliate.film_memo)."""
    film = affiliate.films.get(key, lambda: affiliate.film_rows.find(key))
    if film is None:
        raise widgets.FilmNotFound(f"no film matches {key}")
    return film


def _rendered(affiliate: AffiliateState, widget: str, mode: str, film: FilmRow,
              negotiated: Negotiated, render: Callable[[object], str], now: dt.datetime) -> Rendered:
    key = RenderKey(widget, mode, film.id, film.revision, negotiated.region, negotiated.locale,
                    _base_url())

    def build() -> tuple[str, dt.datetime | None]:
        # The row read for the cache key: the builder need not look the film up again.
        view = _WIDGETS[widget].build(affiliate.db, film, negotiated.region,
                                      negotiated.locale, affiliate.settings,
                                      sources=affiliate.sources)
        return render(view), view.fresh_until

    return affiliate.fragments.get_or_render(key, now, build)


def _base_url() -> str:
    """What absolute links start with. Built from the raw scheme, host and mount point:
    `request.url_root` decodes and re-encodes the whole URL, which cost more than a cache hit."""
    if not has_request_context():
        return ""
    return f"{request.scheme}://{request.host}{request.root_path}/"


def _deliver(widget: str, mode: str, film_ref: str, render: Callable[[object], str],
             mimetype: str, count_view: bool = True) -> Response:
    """A widget as a response of its own: 304 when the ETag is current, else the cached
    or freshly rendered body. The same request made moments ago is answered as it was then
    (affiliate.answer_memo)."""
    affiliate = state()
    now = utcnow()
    memo_key = affiliate.answers.key(request.environ)
    answer = affiliate.answers.get(memo_key)
    if answer is None or not answer.rendered.fresh(now):
        args = request.args
        negotiated = _negotiate(affiliate, args.get("region"), args.get("locale"))
        film_key = checked("film", FilmKey.parse, film_ref)
        film = _film(affiliate, film_key)
        rendered = _rendered(affiliate, widget, mode, film, negotiated, render, now)
        answer = Answer(film.id, rendered, negotiated.vary)
        affiliate.answers.put(memo_key, answer, film_key, film)
    counts_view = count_view and widget == "how-to-watch"
    if counts_view:
        _count_view(affiliate, widget, answer.film_id, now)
    rendered = answer.rendered
    if delivery.not_modified(rendered.etag):
        response = Response(status=304)
    else:
        response = Response(rendered.content, mimetype=mimetype)
        # Once sent, the same request may be answered without Flask (affiliate.answer_front).
        request.environ[SENDING] = (memo_key, answer, counts_view)
    return delivery.shareable(response, affiliate.settings.http, rendered.etag, answer.vary,
                              delivery.seconds_left(rendered.fresh_until, now))


def _macro(widget: str, view, external: bool = False, layout: str = "list") -> Markup:
    """`external`: every URL absolute, for HTML that lands on another site's page."""
    return get_template_attribute(MACROS, _WIDGETS[widget].macro)(view, external=external,
                                                                  layout=layout)


def _layout(value: str | None) -> str:
    """The `layout` parameter, one of widgets.LAYOUTS; absent is the first."""
    if value is None:
        return widgets.LAYOUTS[0]
    if value not in widgets.LAYOUTS:
        raise BadParameter(f"layout: {value!r} is not one of {', '.join(widgets.LAYOUTS)}")
    return value


def _layout_mode(mode: str, layout: str) -> str:
    """The cache mode names any layout but the default, as an API mode names its filters."""
    return mode if layout == widgets.LAYOUTS[0] else f"{mode};layout={layout}"


def _json(data: dict) -> str:
    return current_app.json.dumps(data) + "\n"


# The standalone service's front page; not part of the blueprint a host app embeds, whose
# own "/" it would otherwise shadow.
demo_bp = Blueprint("affiliate_demo", __name__)


@demo_bp.get("/")
def demo():
    negotiated = _negotiate(state(), request.args.get("region"), request.args.get("locale"))
    region, locale = negotiated.region, negotiated.locale
    layout = _layout(request.args.get("layout"))
    db, settings, sources = state().db, state().settings, state().sources
    films = [(widgets.how_to_watch(db, film.ref, region, locale, settings, sources=sources),
              widgets.related_products(db, film.ref, region, locale, settings, sources=sources))
             for film in widgets.list_films(db)]
    regions = [(code, region_name(code, locale))
               for code in dict.fromkeys((*DEMO_REGIONS, region))]
    response = Response(render_template("affiliate/demo.html", films=films, region=region,
                                        regions=regions, layout=layout, layouts=widgets.LAYOUTS))
    response.vary.update(negotiated.vary)
    return response


_WIDGET_PATH = '/widgets/<any("how-to-watch", "related-products"):widget>/<film>'


@bp.get(_WIDGET_PATH)
def fragment(widget: str, film: str):
    """An HTML fragment to inject into any page (embed.js fetches it cross-origin); it links
    the stylesheet by absolute URL so it looks right wherever it lands."""
    layout = _layout(request.args.get("layout"))
    return _deliver(widget, _layout_mode("fragment", layout), film, lambda view: render_template(
        "affiliate/fragment.html", widget=_macro(widget, view, external=True, layout=layout)),
        "text/html")


@bp.get(_WIDGET_PATH + "/frame")
def frame(widget: str, film: str):
    """A whole page for an <iframe>: frame.js tells the parent page its height."""
    layout = _layout(request.args.get("layout"))

    def page(view) -> str:
        return render_template("affiliate/frame.html", widget=_macro(widget, view, layout=layout),
                               view=view, widget_name=widget)

    response = _deliver(widget, _layout_mode("frame", layout), film, page, "text/html")
    return delivery.frameable(response, state().settings.http)


@bp.get("/api/v1/films/<film>/offers")
def api_offers(film: str):
    _api_parameters()
    kinds = _choices("kind", OfferKind)

    def body(view: widgets.HowToWatch) -> str:
        if kinds:
            view = dataclasses.replace(
                view, groups=tuple(group for group in view.groups if group.kind in kinds))
        return _json(_offers_json(view))

    return _deliver("how-to-watch", _api_mode("offers", kind=kinds), film, body,
                    "application/json", count_view=False)


@bp.get("/api/v1/films/<film>/products")
def api_products(film: str):
    _api_parameters()
    formats, relations = _choices("format", ProductFormat), _choices("relation", Relation)

    def body(view: widgets.RelatedProducts) -> str:
        cards = tuple(card for card in view.cards
                      if (not formats or card.format in formats)
                      and (not relations or card.relation in relations))
        return _json(_products_json(dataclasses.replace(view, cards=cards)))

    return _deliver("related-products", _api_mode("products", format=formats, relation=relations),
                    film, body, "application/json", count_view=False)


@bp.get("/api/v1/openapi.json")
def openapi_json():
    base = url_for("affiliate.openapi_json", _external=True).removesuffix("/api/v1/openapi.json")
    response = jsonify(openapi.document(base or "/"))
    response.add_etag()
    response.make_conditional(request)
    return delivery.shareable(response, state().settings.http, None, ())


def _choices(name: str, allowed) -> frozenset[str]:
    """A filter's values, repeated (?kind=rent&kind=buy) or comma-separated (?kind=rent,buy):
    at most one of each allowed value, none empty (as the OpenAPI document says)."""
    values = [value.strip() for raw in request.args.getlist(name) for value in raw.split(",")]
    known = [member.value for member in allowed]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise BadParameter(f"{name}: {unknown[0]!r} is not one of {', '.join(known)}")
    if len(values) > len(known):
        raise BadParameter(f"{name}: at most {len(known)} values")
    return frozenset(values)


def _api_parameters() -> None:
    """What the API checks before its widget's own checks: region and locale, when given,
    are not empty (the widgets read an empty one as absent), and the layout is known."""
    for name in ("region", "locale"):
        if name in request.args and not request.args[name].strip():
            raise BadParameter(f"{name}: empty; give a value or leave the parameter out")
    _layout(request.args.get("layout"))  # checked, as the widgets do; the data is the same


def _api_mode(resource: str, **filters: frozenset[str]) -> str:
    """The cache mode of an API answer names its filters, in a stable order."""
    return ";".join([f"api:{resource}", *(f"{name}={','.join(sorted(values))}"
                                         for name, values in filters.items() if values)])


def _offers_json(view: widgets.HowToWatch) -> dict:
    return dict(
        film=_film_json(view.film), region=view.region, region_name=view.region_name,
        groups=[{
            "kind": group.kind,
            "label": group.heading,
            "platforms": [{
                "name": row.name, "slug": row.slug, "logo_url": row.logo_url, "link": row.link,
                "lowest_price": _price_json(row.lowest_price),
                "offers": [{"quality": p.quality, **_price_json(p.price)} for p in row.prices],
            } for row in group.rows],
        } for group in view.groups],
        sources=list(view.sources), attributions=_attributions_json(view),
        disclosures=[view.disclosure],
    )


def _products_json(view: widgets.RelatedProducts) -> dict:
    return dict(
        film=_film_json(view.film), region=view.region, region_name=view.region_name,
        products=[{
            "title": card.title, "format": card.format, "format_label": card.format_label,
            "relation": card.relation, "image_url": card.image_url, **_price_json(card.price),
            "merchant": card.merchant, "availability": card.availability, "link": card.link,
            "price_as_of": card.price_as_of,
        } for card in view.cards],
        sources=list(view.sources), attributions=_attributions_json(view),
        disclosures=list(view.disclosures),
    )


def _attributions_json(view) -> list[dict]:
    return [{"text": credit.text, "url": credit.url} for credit in view.attributions]


def _film_json(film: widgets.FilmSummary) -> dict:
    return {"id": film.id, "ref": film.ref, "title": film.title, "year": film.year,
            "imdb_id": film.imdb_id, "tmdb_id": film.tmdb_id}


def _price_json(price: widgets.Price | None) -> dict:
    """Amounts as decimal strings ("3.99"): JSON numbers would be read back as floats."""
    if price is None:
        return {"price": None, "currency": None, "formatted": None}
    return {"price": str(price.amount), "currency": price.currency, "formatted": price.text}


def _bad_parameter(exc: BadParameter):
    return _error(str(exc), 400)


def _film_not_found(exc: widgets.FilmNotFound):
    return _error(str(exc), 404)


def _server_error(exc: InternalServerError):
    """The API's answers are JSON, a failure's too; the widgets keep Flask's page."""
    if request.endpoint and request.endpoint.startswith(f"{bp.name}.api_"):
        return delivery.not_stored(json_error(exc))
    return exc


for _blueprint in (bp, demo_bp):
    _blueprint.register_error_handler(BadParameter, _bad_parameter)
    _blueprint.register_error_handler(widgets.FilmNotFound, _film_not_found)
    _blueprint.after_request(delivery.public_headers)
bp.register_error_handler(InternalServerError, _server_error)


def _error(message: str, status: int) -> Response:
    """JSON for the API, a one-line fragment for everything that renders HTML."""
    if request.endpoint and request.endpoint.startswith(f"{bp.name}.api_"):
        response = jsonify(error=message)
    else:
        response = Response(Markup('<p class="affiliate-error">{}</p>').format(message))
    response.status_code = status
    return delivery.not_stored(response) if request.endpoint in PUBLIC_ENDPOINTS else response
