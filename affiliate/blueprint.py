"""Routes: the widget fragments and the JSON API (`bp`), the standalone demo page
(`demo_bp`), and the helpers a host app calls to render the widgets inside its own pages.

Views only check request parameters, ask `affiliate.widgets` for a view model and render it;
every link they render was stored by the service, never taken from the request.
"""
from __future__ import annotations

import logging
from typing import Callable, NamedTuple

from flask import Blueprint, get_template_attribute, jsonify, render_template, request
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from affiliate import widgets
from affiliate.app import state, templates_folder
from affiliate.due import record_view
from affiliate.types import utcnow
from providers.base import FilmKey
from providers.regions import normalize_locale, normalize_region, region_name

log = logging.getLogger(__name__)

bp = Blueprint("affiliate", __name__, template_folder=str(templates_folder()),
               static_folder="static", static_url_path="/affiliate/static")

MACROS = "affiliate/macros.html"
# The demo page's region switcher: the demo catalog's two storefronts (and their currencies).
DEMO_REGIONS = ("US", "GB")


class _Widget(NamedTuple):
    build: Callable  # the view-model builder in affiliate.widgets
    macro: str  # its macro in MACROS


_WIDGETS = {
    "how-to-watch": _Widget(widgets.how_to_watch, "how_to_watch"),
    "related-products": _Widget(widgets.related_products, "related_products"),
}


class BadParameter(ValueError):
    """A malformed parameter; the message starts with its name ("region: ...")."""


def render_how_to_watch(film_ref: str, region: str | None = None,
                        locale: str | None = None) -> Markup:
    """The How to Watch widget for a host page (also a Jinja global of the same name).

    A film the catalog does not know yet renders as nothing, so a host's film page never
    breaks over it; a malformed reference, region or locale is a bug and raises BadParameter.
    """
    return _render_for_host("how-to-watch", film_ref, region, locale)


def render_related_products(film_ref: str, region: str | None = None,
                            locale: str | None = None) -> Markup:
    """The Related Products widget for a host page; behaves as `render_how_to_watch`."""
    return _render_for_host("related-products", film_ref, region, locale)


@bp.record_once
def _register_jinja_globals(setup_state) -> None:
    setup_state.app.jinja_env.globals.update(
        render_how_to_watch=render_how_to_watch,
        render_related_products=render_related_products,
    )


def _render_for_host(widget: str, film_ref: str, region: str | None, locale: str | None) -> Markup:
    try:
        view = _build(widget, film_ref, region, locale)
    except widgets.FilmNotFound:
        return Markup("")
    _count_view(widget, view)
    return _macro(widget, view)


def _count_view(widget: str, view) -> None:
    """One view per page (the How to Watch box) makes a film popular, so it refreshes
    sooner; counting must never break the widget."""
    if widget != "how-to-watch":
        return
    try:
        record_view(state().db, view.film.id, utcnow())
    except SQLAlchemyError:
        log.exception("could not count a view of film %s", view.film.id)


def _build(widget: str, film_ref: str, region: str | None, locale: str | None):
    region, locale = _region_and_locale(region, locale)
    film = str(_checked("film", FilmKey.parse, film_ref))
    affiliate = state()
    return _WIDGETS[widget].build(affiliate.db, film, region, locale, affiliate.settings)


def _macro(widget: str, view) -> Markup:
    return get_template_attribute(MACROS, _WIDGETS[widget].macro)(view)


def _region_and_locale(region: str | None, locale: str | None) -> tuple[str, str]:
    """Missing (or empty) parameters fall back to the configured defaults."""
    service = state().settings.service
    return (_checked("region", normalize_region, region or service.default_region),
            _checked("locale", normalize_locale, locale or service.default_locale))


def _checked(name: str, parse: Callable, value: str):
    try:
        return parse(value)
    except ValueError as exc:
        raise BadParameter(f"{name}: {exc}") from None


def _query() -> dict[str, str | None]:
    return {"region": request.args.get("region"), "locale": request.args.get("locale")}


# The standalone service's front page; not part of the blueprint a host app embeds, whose
# own "/" it would otherwise shadow.
demo_bp = Blueprint("affiliate_demo", __name__)


@demo_bp.get("/")
def demo():
    region, locale = _region_and_locale(**_query())
    db, settings = state().db, state().settings
    films = [(widgets.how_to_watch(db, film.ref, region, locale, settings),
              widgets.related_products(db, film.ref, region, locale, settings))
             for film in widgets.list_films(db)]
    regions = [(code, region_name(code, locale))
               for code in dict.fromkeys((*DEMO_REGIONS, region))]
    return render_template("affiliate/demo.html", films=films, region=region, regions=regions)


@bp.get('/widgets/<any("how-to-watch", "related-products"):widget>/<film>')
def fragment(widget: str, film: str):
    """An HTML fragment to inject into any page; it links the stylesheet by absolute URL so
    it looks right wherever it lands."""
    view = _build(widget, film, **_query())
    _count_view(widget, view)
    return render_template("affiliate/fragment.html", widget=_macro(widget, view))


@bp.get("/api/v1/films/<film>/offers")
def api_offers(film: str):
    view: widgets.HowToWatch = _build("how-to-watch", film, **_query())
    return jsonify(
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


@bp.get("/api/v1/films/<film>/products")
def api_products(film: str):
    view: widgets.RelatedProducts = _build("related-products", film, **_query())
    return jsonify(
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


for _blueprint in (bp, demo_bp):
    _blueprint.register_error_handler(BadParameter, _bad_parameter)
    _blueprint.register_error_handler(widgets.FilmNotFound, _film_not_found)


def _error(message: str, status: int):
    """JSON for the API, a one-line fragment for everything that renders HTML."""
    if request.endpoint and request.endpoint.startswith(f"{bp.name}.api_"):
        return jsonify(error=message), status
    return Markup('<p class="affiliate-error">{}</p>').format(message), status
