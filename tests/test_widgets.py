"""The widgets: view models built from the catalog, and their HTML as fragments, on the demo
page and inside a host app."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from flask import Flask, get_template_attribute, render_template_string
from markupsafe import Markup
from sqlalchemy import event
from sqlmodel import select

from affiliate import Affiliate, static_files
from affiliate.blueprint import (
    BadParameter,
    render_how_to_watch,
    render_related_products,
)
from affiliate.catalog import reconcile
from affiliate.config import ConfigError
from affiliate.models import Film, FilmProduct, Offer, Product
from affiliate.sources import SourceDirectory
from affiliate.widgets import (
    DEFAULT_DISCLOSURE,
    FilmNotFound,
    how_to_watch,
    list_films,
    related_products,
)
from providers.base import (
    Availability,
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
    Quality,
    Relation,
)

LLV = "imdb:tt0113627"
LLV_URL = f"/widgets/how-to-watch/{LLV}"
TEST_FILM = FilmRecord(key=FilmKey(imdb_id="tt0000001"), title="Test Film", year=2001,
                       imdb_id="tt0000001")
PLATFORMS = {
    "alpha": PlatformRecord("alpha", "Alpha Movies", logo_url="https://img.example/alpha.png"),
    "beta": PlatformRecord("beta", "Beta TV"),
    "gamma": PlatformRecord("gamma", "Gamma"),
}


def offer(platform: str, kind: OfferKind, quality: Quality, price: str | None,
          region: str = "US", link: str | None = None) -> OfferRecord:
    return OfferRecord(
        film=TEST_FILM.key, platform=PLATFORMS[platform], region=region, kind=kind,
        quality=quality, link=link or f"https://{platform}.example/watch/1",
        price=Decimal(price) if price else None, currency="USD" if price else None)


def product(merchant_id: str, relation: Relation, position: int | None = None,
            fmt: ProductFormat = ProductFormat.DVD, region: str = "US", **extra) -> ProductRecord:
    return ProductRecord(
        merchant="Shop", merchant_id=merchant_id, title=f"Item {merchant_id}", format=fmt,
        link=f"https://shop.example/{merchant_id}", region=region,
        films=(ProductLink(TEST_FILM.key, relation, position),), **extra)


def store(db, source: str = "test", offers=(), products=()) -> None:
    result = ProviderResult(films=[TEST_FILM], offers=list(offers), products=list(products))
    reconcile(db, source, result, hide_after_misses=3)


def watch(db, settings, region: str = "US", locale: str = "en_US", ref: str = "imdb:tt0000001",
          now: dt.datetime | None = None):
    return how_to_watch(db, ref, region, locale, settings, now=now)


def products_of(db, settings, region: str = "US", ref: str = "imdb:tt0000001"):
    return related_products(db, ref, region, "en_US", settings)


def set_hidden(db, model, **where) -> None:
    with db.session() as session:
        row = session.exec(select(model).filter_by(**where)).one()
        row.hidden = True
        session.add(row)


class Page(HTMLParser):
    """The parts of a rendered widget the tests look at: links, images and text."""

    def __init__(self, html: str):
        super().__init__()
        self.links: list[dict] = []
        self.images: list[dict] = []
        self.chunks: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs))
        elif tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())

    def external_links(self) -> list[dict]:
        return [link for link in self.links if link["href"].startswith("http")]


# --- How to Watch: view model -------------------------------------------------------------

def test_groups_follow_stream_free_ads_rent_buy_and_empty_ones_are_left_out(db, settings):
    store(db, offers=[
        offer("alpha", OfferKind.BUY, Quality.HD, "9.99"),
        offer("beta", OfferKind.ADS, Quality.SD, None),
        offer("alpha", OfferKind.SUBSCRIPTION, Quality.HD, None),
        offer("gamma", OfferKind.RENT, Quality.HD, "3.99"),
    ])
    view = watch(db, settings)
    assert [(g.kind, g.heading) for g in view.groups] == [
        ("subscription", "Stream"), ("ads", "With ads"), ("rent", "Rent"), ("buy", "Buy")]
    assert view.film.title == "Test Film" and view.film.year == 2001
    assert view.region_name == "United States"
    assert view.groups[0].rows[0].action_label == "Stream Test Film on Alpha Movies"


def test_rows_go_cheapest_first_with_prices_per_quality_in_sd_hd_4k_order(db, settings):
    store(db, offers=[
        offer("alpha", OfferKind.RENT, Quality.UHD, "5.99"),
        offer("alpha", OfferKind.RENT, Quality.HD, "4.99"),
        offer("gamma", OfferKind.RENT, Quality.HD, "2.99"),
        offer("beta", OfferKind.RENT, Quality.SD, "2.99"),
        offer("beta", OfferKind.RENT, Quality.HD, None),
    ])
    rows = watch(db, settings).groups[0].rows
    assert [row.name for row in rows] == ["Beta TV", "Gamma", "Alpha Movies"]
    assert [p.label for p in rows[0].prices] == ["SD $2.99", "HD"]
    assert [p.label for p in rows[2].prices] == ["HD $4.99", "4K $5.99"]
    assert rows[2].lowest_price.text == "$4.99"


def test_subscription_rows_are_sorted_by_name(db, settings):
    store(db, offers=[offer(slug, OfferKind.SUBSCRIPTION, Quality.HD, None)
                      for slug in ("gamma", "alpha", "beta")])
    rows = watch(db, settings).groups[0].rows
    assert [row.name for row in rows] == ["Alpha Movies", "Beta TV", "Gamma"]
    assert [p.label for p in rows[0].prices] == ["HD"]


def test_the_lowest_price_wins_when_two_sources_report_the_same_offer(db, settings):
    store(db, "source-a", [offer("alpha", OfferKind.RENT, Quality.HD, "4.99",
                                 link="https://alpha.example/a")])
    store(db, "source-b", [offer("alpha", OfferKind.RENT, Quality.HD, "3.99",
                                 link="https://alpha.example/b")])
    view = watch(db, settings)
    (row,) = view.groups[0].rows
    assert [p.label for p in row.prices] == ["HD $3.99"]
    assert row.link == "https://alpha.example/b"
    assert view.sources == ("source-b",)


def test_only_visible_offers_of_the_requested_region_are_shown(db, settings):
    store(db, offers=[
        offer("alpha", OfferKind.RENT, Quality.HD, "3.99"),
        offer("beta", OfferKind.RENT, Quality.HD, "2.99"),
        offer("gamma", OfferKind.RENT, Quality.HD, "1.99", region="GB"),
    ])
    set_hidden(db, Offer, link="https://beta.example/watch/1")
    (group,) = watch(db, settings).groups
    assert [row.name for row in group.rows] == ["Alpha Movies"]


def test_platform_without_a_logo_gets_a_monogram_tile(app, db, settings):
    store(db, offers=[offer("alpha", OfferKind.BUY, Quality.HD, "9.99"),
                      offer("beta", OfferKind.BUY, Quality.HD, "8.99")])
    beta, alpha = watch(db, settings).groups[0].rows
    assert (beta.logo_url, beta.monogram) == (None, "BT")
    assert alpha.logo_url == "https://img.example/alpha.png"
    html = Page(render(app))
    # The initials are under the logo too, shown if it fails (data-aff-fallback: fallback.js).
    assert html.images == [{"class": "aff-tile-logo", "src": "https://img.example/alpha.png", "alt": "",
                            "width": "40", "height": "40", "loading": "lazy", "decoding": "async",
                            "data-aff-fallback": "AM"}]
    assert "BT" in html.text and "AM" in html.text


def test_a_film_with_no_offers_in_the_region_says_so_in_plain_words(db, settings):
    store(db, offers=[offer("alpha", OfferKind.RENT, Quality.HD, "3.99")])
    view = watch(db, settings, region="GB")
    assert view.groups == ()
    assert view.empty_message == (
        "Test Film isn't available to stream, rent or buy in the United Kingdom yet.")
    assert watch(db, settings, region="FR").empty_message.endswith(" in France yet.")


def test_unknown_and_malformed_films(db, settings):
    with pytest.raises(FilmNotFound, match="no film matches imdb:tt9999999"):
        watch(db, settings, ref="imdb:tt9999999")
    with pytest.raises(ValueError, match="not a film reference"):
        products_of(db, settings, ref="Leaving Las Vegas")


@pytest.mark.parametrize("build", [how_to_watch, related_products])
def test_each_widget_needs_at_most_three_queries(demo, settings, build):
    statements = []
    event.listen(demo.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    build(demo, LLV, "US", "en_US", settings)
    assert 1 <= len(statements) <= 3


# --- Related Products: view model ---------------------------------------------------------

def test_cards_go_pinned_first_then_by_relation_position_and_title(db, settings):
    store(db, products=[
        product("merch", Relation.MERCHANDISE, 1, ProductFormat.MERCHANDISE),
        product("novel", Relation.SOURCE_NOVEL, 1, ProductFormat.BOOK),
        product("dvd", Relation.EDITION, 2),
        product("bluray-b", Relation.EDITION, None, ProductFormat.BLU_RAY),
        product("bluray-a", Relation.EDITION, None, ProductFormat.BLU_RAY),
        product("box", Relation.EDITION, 1, ProductFormat.COLLECTION),
        product("ost", Relation.SOUNDTRACK, 1, ProductFormat.SOUNDTRACK_CD),
    ])
    with db.session() as session:
        link = session.exec(select(FilmProduct).join(Product).where(
            Product.merchant_id == "novel")).one()
        link.pinned, link.position = True, 0
        session.add(link)
    cards = products_of(db, settings).cards
    assert [card.title for card in cards] == [
        "Item novel", "Item box", "Item dvd", "Item bluray-a", "Item bluray-b", "Item ost",
        "Item merch"]
    assert [card.format_label for card in cards] == [
        "Book", "Collection", "DVD", "Blu-ray", "Blu-ray", "Soundtrack CD", "Merchandise"]


def test_hidden_products_and_links_and_other_regions_are_not_shown(db, settings):
    store(db, products=[product("shown", Relation.EDITION, 1),
                        product("gone", Relation.EDITION, 2),
                        product("unlinked", Relation.EDITION, 3),
                        product("british", Relation.EDITION, 4, region="GB")])
    set_hidden(db, Product, merchant_id="gone")
    with db.session() as session:
        link = session.exec(select(FilmProduct).join(Product).where(
            Product.merchant_id == "unlinked")).one()
        link.hidden = True
        session.add(link)
    assert [card.title for card in products_of(db, settings).cards] == ["Item shown"]
    assert [card.title for card in products_of(db, settings, "GB").cards] == ["Item british"]


def test_cards_say_when_out_of_stock_or_on_pre_order(app, db, settings):
    store(db, products=[
        product("a", Relation.EDITION, 1, price=Decimal("19.99"), currency="USD"),
        product("b", Relation.EDITION, 2, availability=Availability.OUT_OF_STOCK),
        product("c", Relation.EDITION, 3, ProductFormat.UHD_BLU_RAY,
                availability=Availability.PREORDER, image_url="https://img.example/c.jpg"),
    ])
    a, b, c = products_of(db, settings).cards
    assert (a.price.text, a.availability_label, a.action) == ("$19.99", None, "Buy")
    assert (b.price, b.availability_label, b.action) == (None, "Out of stock", "View")
    assert (c.format_label, c.availability_label, c.action) == ("4K Ultra HD", "Pre-order", "Pre-order")
    html = Page(render(app, "related-products"))
    assert "Out of stock" in html.text and "Pre-order" in html.text
    # Sized, so nothing moves when it arrives; no alt text, the card's title says it already.
    assert html.images == [{"src": "https://img.example/c.jpg", "alt": "", "width": "160",
                            "height": "160", "loading": "lazy", "decoding": "async",
                            "data-aff-fallback": ""}]
    # Every card has its format's drawn placeholder, under the picture where there is one.
    assert render(app, "related-products").count('<svg class="aff-placeholder"') == 3


def test_no_related_products_says_so(app, db, settings):
    store(db)
    view = products_of(db, settings)
    assert view.cards == ()
    html = Page(render(app, "related-products"))
    assert "There are no related products for Test Film in the United States yet." in html.text


def render(app, widget: str = "how-to-watch", ref: str = "imdb:tt0000001") -> str:
    """A widget rendered through its macro, as a host page would (in a request: its links are
    URLs of the service)."""
    with app.test_request_context():
        helper = render_how_to_watch if widget == "how-to-watch" else render_related_products
        return str(helper(ref))


# --- Fragments over HTTP, with the demo catalog --------------------------------------------

def test_leaving_las_vegas_in_the_us_has_four_platforms_to_rent_and_to_buy(client, demo):
    response = client.get(f"{LLV_URL}?region=US")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    assert html.index('<h3 class="aff-group-heading"') < html.index(">Rent</h3>") < html.index(">Buy</h3>")
    labels = [link["aria-label"] for link in Page(html).external_links()]
    rents = [label for label in labels if label.startswith("Rent ")]
    buys = [label for label in labels if label.startswith("Buy ")]
    platforms = {"Amazon Prime Video", "Apple TV", "Google Play Movies", "Vudu"}
    assert {label.removeprefix("Rent Leaving Las Vegas on ") for label in rents} == platforms
    assert {label.removeprefix("Buy Leaving Las Vegas on ") for label in buys} == platforms
    assert "HD $3.99" in Page(html).text
    assert "Rent Leaving Las Vegas on Apple TV" in labels


def test_every_affiliate_link_is_sponsored_and_opens_in_a_new_tab(client, demo):
    for url in (LLV_URL, f"/widgets/related-products/{LLV}", "/"):
        links = [link for link in Page(client.get(url).text).links if link.get("class") == "aff-action"]
        assert links, url
        for link in links:
            assert link["rel"] == "sponsored nofollow noopener", (url, link)
            assert link["target"] == "_blank", (url, link)
            assert link["aria-label"], (url, link)


def test_prices_follow_the_locale(client, demo):
    html = client.get(f"{LLV_URL}?region=US&locale=de_DE").text
    assert "<li class=\"aff-price\">HD 3,99\xa0$</li>" in html
    assert "Vereinigte Staaten" in html


def test_tmdb_and_internal_ids_name_the_same_film(client, demo):
    film_id = next(f.id for f in list_films(demo) if f.ref == LLV)
    pages = [client.get(f"/widgets/how-to-watch/{ref}").text
             for ref in (LLV, "tmdb:451", str(film_id))]
    assert pages[0] == pages[1] == pages[2]
    assert "Leaving Las Vegas" in pages[0]


def test_fragments_bring_their_stylesheet_and_the_disclosure(client, demo, settings):
    for widget in ("how-to-watch", "related-products"):
        html = client.get(f"/widgets/{widget}/{LLV}").text
        assert html.startswith('<link rel="stylesheet" href="http://localhost/affiliate/static/'
                               f'widgets.css?v={static_files.version()}">')
        assert f'<p class="aff-disclosure">{DEFAULT_DISCLOSURE}</p>' in html
    css = client.get("/affiliate/static/widgets.css")
    assert css.status_code == 200 and b"--aff-accent" in css.data


def test_no_offers_in_the_region_points_to_the_related_products(client, demo):
    html = client.get(f"{LLV_URL}?region=FR").text
    text = Page(html).text
    assert "Leaving Las Vegas isn't available to stream, rent or buy in France yet." in text
    related = next(link for link in Page(html).links if link["href"].startswith("#"))
    assert f'id="{related["href"][1:]}"' in client.get(f"/widgets/related-products/{LLV}").text


def test_related_products_has_six_cards_in_relation_order(client, demo):
    html = client.get(f"/widgets/related-products/{LLV}?region=US").text
    titles = [link["aria-label"] for link in Page(html).external_links()]
    assert len(titles) == 6
    assert [t.split(" at ")[0] for t in titles] == [
        "Buy Leaving Las Vegas [Blu-ray]",
        "Buy Leaving Las Vegas [DVD]",
        "Buy Leaving Las Vegas: Original Motion Picture Soundtrack (music by Mike Figgis) [Audio CD]",
        "Buy Nicolas Cage: 5-Film Collection (Leaving Las Vegas / Raising Arizona / Moonstruck "
        "/ Adaptation / The Weather Man) [DVD]",
        "Buy Leaving Las Vegas, a novel by John O'Brien (paperback)",
        "Buy Globe Whiskey Decanter Set with 2 Glasses",
    ]
    assert "$12.99" in Page(html).text


@pytest.mark.settings(link_tags=[{"host": "amazon.com", "params": {"tag": "filmsite-20"}}],
                      widgets={"disclosure": "Links may earn us a commission."})
def test_link_tags_from_the_settings_are_added_to_matching_links(client, demo):
    for widget in ("how-to-watch", "related-products"):
        html = client.get(f"/widgets/{widget}/{LLV}").text
        hrefs = [link["href"] for link in Page(html).external_links()]
        amazon = [href for href in hrefs if "amazon.com" in href]
        assert amazon and all(href.endswith("&tag=filmsite-20") for href in amazon)
        assert all("filmsite-20" not in href for href in hrefs if href not in amazon)
        assert "Links may earn us a commission." in html


def test_html_errors_are_one_line_with_the_status(client, demo):
    cases = {
        "/widgets/how-to-watch/imdb:tt9999999": (404, "no film matches imdb:tt9999999"),
        "/widgets/related-products/tt0113627": (400, "film: &#39;tt0113627&#39; is not a film reference"),
        f"{LLV_URL}?region=XX": (400, "region: &#39;XX&#39; is not an ISO 3166-1 alpha-2"),
        f"{LLV_URL}?locale=xx_YY": (400, "locale: &#39;xx_YY&#39; is not a locale"),
        "/?region=Narnia": (400, "region: &#39;Narnia&#39;"),
    }
    for url, (status, reason) in cases.items():
        response = client.get(url)
        assert response.status_code == status, url
        assert response.text.startswith(f'<p class="affiliate-error">{reason}'), response.text
        assert response.text.count("\n") == 0


# --- Demo page -----------------------------------------------------------------------------

def test_demo_page_shows_every_film_with_both_widgets_and_a_region_switcher(client, demo):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert '<meta name="viewport"' in html and "<title>" in html
    page = Page(html)
    assert "illustrative" in page.text
    for film in list_films(demo):
        assert f'id="affiliate-how-to-watch-{film.id}"' in html
        assert f'id="affiliate-related-products-{film.id}"' in html
        assert f"{film.title} ({film.year})" in page.text
    hrefs = [link["href"] for link in page.links]
    assert "/?region=US" in hrefs and "/?region=GB" in hrefs
    assert '<a href="/?region=US" aria-current="page">' in html


def test_demo_page_switches_region(client, demo):
    html = client.get("/?region=GB").text
    assert "£3.49" in Page(html).text and "$3.99" not in html
    assert '<a href="/?region=GB" aria-current="page">' in html


# --- Inside a host app ---------------------------------------------------------------------

@pytest.fixture
def host(demo, settings):
    host = Flask("film_site")
    Affiliate(host, settings, url_prefix="/affiliate")

    @host.get("/films/<ref>")
    def film_page(ref):
        return render_template_string(
            "<main><h1>Film</h1>{{ render_how_to_watch(ref) }}"
            "{{ render_related_products(ref, region='US', locale='en_GB') }}</main>", ref=ref)

    yield host
    host.extensions["affiliate"].db.dispose()


def test_a_host_app_renders_both_widgets_in_its_own_templates(host):
    response = host.test_client().get(f"/films/{LLV}")
    assert response.status_code == 200
    page = Page(response.text)
    assert "How to watch Leaving Las Vegas (1995)" in page.text
    assert "Related products for Leaving Las Vegas (1995)" in page.text
    assert "US$12.99" in page.text  # en_GB formatting of a dollar price
    assert all(link["rel"] == "sponsored nofollow noopener" for link in page.external_links())
    assert "<link" not in response.text  # the host links the stylesheet once, in its <head>


def test_host_helpers_return_markup_and_skip_films_the_catalog_lacks(host):
    with host.test_request_context():
        widget = render_how_to_watch("tmdb:451", region="gb")
        assert isinstance(widget, Markup)
        assert "Rent Leaving Las Vegas on Apple TV" in widget and "£2.49" in widget
        assert render_related_products("imdb:tt9999999") == Markup("")
        with pytest.raises(BadParameter, match="^film: "):
            render_how_to_watch("Leaving Las Vegas")


def test_a_host_app_also_serves_the_fragments_and_stylesheet_under_its_prefix(host):
    client = host.test_client()
    html = client.get(f"/affiliate/widgets/how-to-watch/{LLV}").text
    assert "http://localhost/affiliate/affiliate/static/widgets.css?v=" in html
    assert client.get("/affiliate/affiliate/static/widgets.css").status_code == 200


def test_the_extension_leaves_the_host_front_page_alone(host):
    assert host.test_client().get("/").status_code == 404


def test_internal_ids_come_from_the_catalog(db, settings):
    store(db)
    with db.session() as session:
        film_id = session.exec(select(Film.id)).one()
    assert watch(db, settings, ref=str(film_id)).film.ref == "imdb:tt0000001"


def test_how_to_watch_views_are_counted_for_popularity(client, demo):
    from affiliate.models import FilmView

    for _ in range(3):
        client.get(f"/widgets/how-to-watch/{LLV}?region=US")
    client.get(f"/widgets/related-products/{LLV}?region=US")
    client.get("/widgets/how-to-watch/imdb:tt9999999")

    client.application.extensions["affiliate"].views.flush()
    with demo.session() as session:
        assert [v.views for v in session.exec(select(FilmView))] == [3]


# --- Badges, "prices as of" and when a rendering goes stale --------------------------------

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def at(days: float) -> dt.datetime:
    return NOW + dt.timedelta(days=days)


def store_at(db, when: dt.datetime, offers=(), source: str = "test") -> None:
    reconcile(db, source, ProviderResult(films=[TEST_FILM], offers=list(offers)),
              hide_after_misses=3, now=when)


def film_created(db, when: dt.datetime) -> None:
    with db.session() as session:
        film = session.exec(select(Film)).one()
        film.created_at = when
        session.add(film)


def badges(view) -> dict[str, list[str]]:
    return {row.name: [badge.label for badge in row.badges]
            for group in view.groups for row in group.rows}


def test_an_offer_that_appears_later_is_new_for_two_weeks(db, settings):
    store_at(db, at(-60), [offer("alpha", OfferKind.RENT, Quality.HD, "3.99")])
    film_created(db, at(-60))
    store_at(db, at(-3), [offer("beta", OfferKind.RENT, Quality.HD, "2.99")])

    view = watch(db, settings, now=NOW)

    assert badges(view) == {"Beta TV": ["New"], "Alpha Movies": []}
    assert view.groups[0].rows[0].badges[0].kind == "new"
    # 14 days on, at midnight in the region's zone (the US's: New York, UTC-4 in March).
    assert view.fresh_until == dt.datetime(2026, 3, 12, 4, tzinfo=dt.timezone.utc)
    assert badges(watch(db, settings, now=at(11))) == {"Beta TV": [], "Alpha Movies": []}


def test_offers_loaded_with_the_film_are_not_new_unless_a_source_dates_them(db, settings):
    record = offer("beta", OfferKind.SUBSCRIPTION, Quality.HD, None)
    store_at(db, at(-2), [offer("alpha", OfferKind.SUBSCRIPTION, Quality.HD, None),
                          dataclasses.replace(record, available_since=at(-5).date())])
    film_created(db, at(-2))

    assert badges(watch(db, settings, now=NOW)) == {"Alpha Movies": [], "Beta TV": ["New"]}


def test_a_lower_price_is_a_price_drop_until_it_is_two_weeks_old(db, settings):
    store_at(db, at(-30), [offer("alpha", OfferKind.RENT, Quality.HD, "4.99"),
                           offer("beta", OfferKind.RENT, Quality.HD, "2.99")])
    film_created(db, at(-30))
    store_at(db, at(-2), [offer("alpha", OfferKind.RENT, Quality.HD, "3.99"),
                          offer("beta", OfferKind.RENT, Quality.HD, "3.49")])

    view = watch(db, settings, now=NOW)

    assert badges(view) == {"Beta TV": [], "Alpha Movies": ["Price drop"]}  # Beta's rose
    assert view.fresh_until == at(12)
    assert badges(watch(db, settings, now=at(12.5))) == {"Beta TV": [], "Alpha Movies": []}


def test_a_drop_followed_by_a_rise_is_no_price_drop(db, settings):
    store_at(db, at(-30), [offer("alpha", OfferKind.RENT, Quality.HD, "4.99")])
    store_at(db, at(-5), [offer("alpha", OfferKind.RENT, Quality.HD, "2.99")])
    store_at(db, at(-1), [offer("alpha", OfferKind.RENT, Quality.HD, "3.99")])

    assert badges(watch(db, settings, now=NOW)) == {"Alpha Movies": []}


def test_leaving_shows_the_date_from_thirty_days_before(db, settings):
    leaving = offer("alpha", OfferKind.SUBSCRIPTION, Quality.HD, None)
    later = offer("beta", OfferKind.SUBSCRIPTION, Quality.HD, None)
    store_at(db, at(-30), [dataclasses.replace(leaving, expires_on=at(20).date()),
                           dataclasses.replace(later, expires_on=at(45).date())])

    view = watch(db, settings, now=NOW)

    assert badges(view) == {"Alpha Movies": ["Leaving Mar 21"], "Beta TV": []}
    # Beta's badge appears when its date comes within 30 days, as the day begins in New York.
    assert view.fresh_until == dt.datetime(2026, 3, 16, 4, tzinfo=dt.timezone.utc)
    assert badges(watch(db, settings, now=at(16)))["Beta TV"] == ["Leaving Apr 15"]
    assert badges(watch(db, settings, now=at(16), locale="es_ES"))["Beta TV"] == [
        "Disponible hasta el 15 abr"]


def test_badge_windows_come_from_the_settings_and_zero_turns_one_off(db, make_settings):
    settings = make_settings(widgets={"new_days": 0, "leaving_days": 60})
    store_at(db, at(-60), [offer("alpha", OfferKind.RENT, Quality.HD, "3.99")])
    film_created(db, at(-60))
    later = offer("beta", OfferKind.RENT, Quality.HD, "2.99")
    store_at(db, at(-3), [dataclasses.replace(later, expires_on=at(45).date())])

    assert badges(watch(db, settings, now=NOW)) == {"Beta TV": ["Leaving Apr 15"], "Alpha Movies": []}


def test_prices_are_as_of_the_oldest_shown_price_check(app, db, settings):
    store_at(db, at(-2), [offer("alpha", OfferKind.RENT, Quality.HD, "3.99")], source="a")
    store_at(db, at(-1), [offer("beta", OfferKind.BUY, Quality.HD, "9.99"),
                          offer("gamma", OfferKind.SUBSCRIPTION, Quality.HD, None)], source="b")

    view = watch(db, settings, now=NOW)

    assert view.checked_at == at(-2)
    assert view.prices_as_of == "Prices as of Feb 27, 2026, 12:00\u202fPM UTC"  # CLDR's narrow space
    assert view.groups[1].rows[0].checked_at == at(-2)
    assert watch(db, settings, locale="de_DE").prices_as_of == "Preise vom 27.02.2026, 12:00 UTC"
    assert "Prices as of Feb 27, 2026, 12:00 PM UTC" in Page(render(app)).text


def test_no_prices_no_as_of(db, settings):
    store_at(db, at(-2), [offer("gamma", OfferKind.SUBSCRIPTION, Quality.HD, None)])
    view = watch(db, settings, now=NOW)
    assert (view.checked_at, view.prices_as_of, view.fresh_until) == (None, None, None)


@pytest.mark.parametrize("build", [how_to_watch, related_products])
def test_queries_do_not_grow_with_offers_products_or_history(db, settings, build):
    many = [offer(slug, kind, quality, str(Decimal("1.99") + n))
            for n, (slug, kind, quality) in enumerate(
                (slug, kind, quality) for slug in PLATFORMS for kind in (OfferKind.RENT, OfferKind.BUY)
                for quality in (Quality.SD, Quality.HD, Quality.UHD))]
    goods = [product(f"item-{n}", Relation.EDITION, n) for n in range(30)]
    for day in range(5):  # five price changes per offer
        bumped = [dataclasses.replace(o, price=o.price + day) for o in many]
        reconcile(db, "test", ProviderResult(films=[TEST_FILM], offers=bumped, products=goods),
                  hide_after_misses=3, now=at(-day))
    # A web process keeps one SourceDirectory: what it read of a source's terms is kept.
    sources = SourceDirectory(db, settings)
    build(db, "imdb:tt0000001", "US", "en_US", settings, now=NOW, sources=sources)
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    view = build(db, "imdb:tt0000001", "US", "en_US", settings, now=NOW, sources=sources)
    assert len(statements) == 2, statements  # the film, then its offers (or products)
    assert view.groups if build is how_to_watch else len(view.cards) == 30

    with db.session() as session:
        film = session.exec(select(Film)).one()
    statements.clear()
    build(db, film, "US", "en_US", settings, now=NOW, sources=sources)
    assert len(statements) == 1  # given the film's row, only the offers (or products)


# --- Region switcher ----------------------------------------------------------------------

class Forms(HTMLParser):
    """The region switcher forms of a page: their attributes, fields and options."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attrs, "fields": [], "options": [], "buttons": []})
        elif self.forms and tag in ("input", "select"):
            self.forms[-1]["fields"].append(attrs)
        elif self.forms and tag == "option":
            self.forms[-1]["options"].append((attrs["value"], "selected" in attrs))
        elif self.forms and tag == "button":
            self.forms[-1]["buttons"].append(attrs)


def test_the_region_switcher_is_a_get_form_keeping_the_locale(client, demo):
    html = client.get(f"{LLV_URL}?region=FR&locale=de_DE").text
    (form,) = Forms(html).forms
    assert form["attrs"] == {"class": "aff-region-switcher", "method": "get"}  # submits to the page
    assert form["options"] == [("US", False), ("GB", False), ("FR", True)]
    assert {"type": "hidden", "name": "locale", "value": "de_DE"} in form["fields"]
    assert form["buttons"] == [{"type": "submit"}]
    assert '<label for="affiliate-how-to-watch-1-region">Region</label>' in html
    assert ">Frankreich</option>" in html and ">Ändern</button>" in html


def test_region_choices_come_from_the_settings(db, make_settings):
    settings = make_settings(widgets={"regions": ["de", "AT", "DE"]})
    store(db)
    view = watch(db, settings, region="US")
    assert [(c.code, c.name, c.selected) for c in view.regions] == [
        ("DE", "Germany", False), ("AT", "Austria", False), ("US", "United States", True)]
    assert [c.code for c in products_of(db, settings, "AT").regions] == ["DE", "AT"]


def test_a_wrong_region_in_the_settings_names_the_key(make_settings):
    with pytest.raises(ConfigError, match=r"widgets\.regions.*'Narnia' is not an ISO 3166-1"):
        make_settings(widgets={"regions": ["US", "Narnia"]})


# --- Links ------------------------------------------------------------------------------------

def test_links_go_through_go_except_amazons_which_carry_a_beacon(client, demo):
    html = client.get(f"{LLV_URL}?region=US").text
    actions = [link for link in Page(html).links if link.get("class") == "aff-action"]
    amazon = [link for link in actions if "Amazon Prime Video" in link["aria-label"]]
    others = [link for link in actions if link not in amazon]
    assert len(amazon) == 2 and len(others) == 6
    for link in amazon:
        assert link["href"].startswith("https://www.amazon.com/s?k=Leaving+Las+Vegas+1995")
        assert re.fullmatch(r"http://localhost/go/o\d+/beacon", link["data-aff-beacon"])
    for link in others:
        assert re.fullmatch(r"http://localhost/go/o\d+", link["href"]), link  # absolute: injected
        assert "data-aff-beacon" not in link


def test_product_links_name_the_film_they_were_clicked_with(client, demo):
    film_id = next(f.id for f in list_films(demo) if f.ref == LLV)
    html = client.get(f"/widgets/related-products/{LLV}?region=US").text
    links = [link for link in Page(html).links if link.get("class") == "aff-action"]
    book = next(link for link in links if "novel" in link["aria-label"])
    assert re.fullmatch(rf"http://localhost/go/p\d+\?film={film_id}", book["href"])
    amazon = [link for link in links if link is not book]
    assert all(re.fullmatch(rf"http://localhost/go/p\d+/beacon\?film={film_id}", link["data-aff-beacon"])
               for link in amazon)


def test_a_host_page_gets_links_of_its_own_origin(host):
    html = host.test_client().get(f"/films/{LLV}").text
    hrefs = [link["href"] for link in Page(html).links if link.get("class") == "aff-action"]
    assert any(re.fullmatch(r"/affiliate/go/o\d+", href) for href in hrefs)
    assert any(re.fullmatch(r"/affiliate/go/p\d+\?film=\d+", href) for href in hrefs)


# --- Amazon's price rules -----------------------------------------------------------------

def test_amazon_api_prices_carry_the_time_and_the_associates_price_disclaimer(app, make_settings):
    settings = make_settings(providers={"amazon": {
        "type": "amazon", "credential_id": "id", "credential_secret": "secret-0123456789",
        "credential_version": "3.1", "partner_tag": "site-20"}})
    db = app.extensions["affiliate"].db
    checked = NOW - dt.timedelta(hours=3)
    reconcile(db, "amazon", ProviderResult(films=[TEST_FILM], products=[ProductRecord(
        merchant="Amazon", merchant_id="B000000001", title="Test Film [Blu-ray]",
        format=ProductFormat.BLU_RAY, link="https://www.amazon.co.uk/dp/B000000001?tag=site-21",
        region="GB", films=(ProductLink(TEST_FILM.key, Relation.EDITION, 1),),
        price=Decimal("12.99"), currency="GBP")]), hide_after_misses=3, now=checked)

    (card,) = related_products(db, "imdb:tt0000001", "GB", "en_GB", settings, now=NOW).cards
    assert (card.price.text, card.price_as_of) == ("£12.99", "1 Mar 2026, 09:00 UTC")
    assert card.price_as_of_label == "as of 1 Mar 2026, 09:00 UTC"
    assert card.price_disclaimer == (
        "Product prices and availability are accurate as of the date/time indicated and are "
        "subject to change. Any price and availability information displayed on Amazon.co.uk at "
        "the time of purchase will apply to the purchase of this product.")
    assert card.direct and card.link.startswith("https://www.amazon.co.uk/dp/B000000001")
    view = related_products(db, "imdb:tt0000001", "GB", "en_GB", settings, now=NOW)
    assert view.fresh_until == checked + dt.timedelta(hours=24)  # when the price must go

    with app.test_request_context():
        html = str(get_template_attribute("affiliate/macros.html", "related_products")(view))
    assert '<span class="aff-as-of">(as of 1 Mar 2026, 09:00 UTC)</span>' in html
    assert re.search(r'<details class="aff-price-details">\s*<summary>Details</summary>', html)
    assert "displayed on Amazon.co.uk at the time of purchase" in html

    spanish = related_products(db, "imdb:tt0000001", "GB", "es_ES", settings, now=NOW).cards[0]
    assert spanish.price_as_of_label == "a fecha de 1 mar 2026, 9:00 UTC"
    assert "que muestre Amazon.co.uk en el momento de la compra" in spanish.price_disclaimer

    stale = related_products(db, "imdb:tt0000001", "GB", "en_GB", settings, now=at(1)).cards[0]
    assert (stale.price, stale.price_as_of, stale.price_disclaimer) == (None, None, None)


# --- Looks --------------------------------------------------------------------------------

def test_the_stylesheet_themes_light_dark_and_by_attribute_and_fetches_nothing(client):
    css = client.get("/affiliate/static/widgets.css").get_data(as_text=True)
    assert "@media (prefers-color-scheme: dark)" in css
    assert '.affiliate-widget[data-theme="dark"]' in css
    assert '[data-theme="dark"] .affiliate-widget' in css
    assert '[data-theme="light"]' in css
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    # Every property the header documents is set for the light theme, and the other way round.
    documented = set(re.findall(r"--aff-[a-z-]+", css.split("*/")[0]))
    light = css.split(":where(.affiliate-widget) {")[1].split("}")[0]
    assert documented == set(re.findall(r"(--aff-[a-z-]+):", light))
