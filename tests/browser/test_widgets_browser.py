"""The widgets in a real browser (Debian's Chromium): the demo page, a host page on another
origin filled by embed.js, the iframe pages resized by frame-parent.js, the region switcher
and where the links go. (How they look at each width, scheme and layout: test_screenshots.)"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

FILM = "tmdb:451"
TAGS = [{"host": "amazon.com", "params": {"tag": "yoursite-20"}},
        {"host": "tv.apple.com", "params": {"at": "1000lXYZ", "ct": "film-pages"}}]
# Where the demo catalog sends US visitors for Leaving Las Vegas, tags added.
STORED_LINKS = {
    "Amazon Prime Video":
        "https://www.amazon.com/s?k=Leaving+Las+Vegas+1995&i=instant-video&tag=yoursite-20",
    "Apple TV": "https://tv.apple.com/search?term=Leaving%20Las%20Vegas&at=1000lXYZ&ct=film-pages",
    "Google Play Movies": "https://play.google.com/store/search?q=Leaving%20Las%20Vegas&c=movies",
    "Vudu": "https://www.vudu.com/content/browse/search?searchString=Leaving%20Las%20Vegas",
    "Leaving Las Vegas [Blu-ray]":
        "https://www.amazon.com/s?k=Leaving+Las+Vegas+Blu-ray&tag=yoursite-20",
    "Leaving Las Vegas, a novel by John O'Brien (paperback)":
        "https://bookshop.org/search?keywords=Leaving+Las+Vegas+John+O%27Brien",
}
SWITCHER = "form.aff-region-switcher"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: what the browser shows does not depend on the database, and PostgreSQL
    is covered by the tests of what the pages hold."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def settings(make_settings):
    """Every test here runs with affiliate tags for Amazon and Apple configured."""
    return make_settings(link_tags=TAGS)


def embed_markup(service: str, region: str = "US") -> str:
    """What a film site adds to its page to show both widgets with embed.js."""
    return (f'<div data-affiliate-widget="how-to-watch" data-film="{FILM}" '
            f'data-region="{region}"></div>\n'
            f'<div data-affiliate-widget="related-products" data-film="{FILM}" '
            f'data-region="{region}"></div>\n'
            f'<script async src="{service}/affiliate/static/embed.js"></script>')


def iframe_markup(service: str, widget: str = "how-to-watch", region: str = "US") -> str:
    """What a film site adds to show a widget in an iframe that fits its content."""
    return (f'<iframe src="{service}/widgets/{widget}/{FILM}/frame?region={region}#box" '
            f'title="{widget.replace("-", " ").capitalize()}" style="width: 100%; border: 0">'
            f'</iframe>\n'
            f'<script src="{service}/affiliate/static/frame-parent.js"></script>')


def embedded(page, widget: str):
    """The host page's element for `widget`, once embed.js has filled it."""
    element = page.locator(f'[data-affiliate-widget="{widget}"]')
    element.locator(".affiliate-widget").wait_for()
    return element


def widget_frame(page):
    """The iframe's document, once its widget is there."""
    frame = page.locator("iframe").element_handle().content_frame()
    frame.locator(".affiliate-widget").wait_for()
    return frame


def assert_iframe_fits(page, frame) -> int:
    """The iframe is exactly as tall as the widget inside (frame-parent.js sets it from
    frame.js's message), so the iframe neither scrolls nor leaves a gap."""
    content = frame.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
    page.wait_for_function(
        "h => Math.round(document.querySelector('iframe').getBoundingClientRect().height) === h",
        arg=content)
    assert content > 150, "the iframe kept its default height"
    assert frame.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    return content


def switch_region(scope, region: str) -> None:
    scope.locator(f"{SWITCHER} select[name=region]").select_option(region)
    scope.locator(f"{SWITCHER} [type=submit]").click()


def prices(scope) -> str:
    return " ".join(scope.locator(".aff-how-to-watch .aff-price").all_inner_texts())


# --- the demo page ------------------------------------------------------------------------

def test_demo_page_shows_both_widgets_for_every_film(page, demo_url):
    page.goto(demo_url + "/?region=US")
    films = page.locator("article.aff-demo-film")
    assert films.count() == 6
    first = films.filter(has_text="Leaving Las Vegas")
    assert first.locator(".affiliate-widget").count() == 2
    assert "$" in first.inner_text()


# --- embed.js on another site -------------------------------------------------------------

def test_embed_js_fills_both_widgets_on_another_origin(page, demo_url, host_page):
    host = host_page(embed_markup(demo_url))
    assert urlsplit(host).port != urlsplit(demo_url).port

    page.goto(host)

    watch = embedded(page, "how-to-watch")
    assert "Vudu" in watch.inner_text()
    assert "$1.99" in prices(watch)
    products = embedded(page, "related-products")
    assert "5-Film Collection" in products.inner_text()
    # The stylesheet came along once, and the widgets' links point at the service, not at
    # the host page that holds them.
    assert page.locator('link[href$="/affiliate/static/widgets.css"]').count() == 1
    vudu = watch.locator(".aff-row", has_text="Vudu").locator("a").first
    assert vudu.evaluate("a => a.href").startswith(demo_url + "/go/")


def test_region_switcher_reloads_an_embedded_widget_in_place(page, demo_url, host_page):
    host = host_page(embed_markup(demo_url))
    page.goto(host)
    watch = embedded(page, "how-to-watch")
    assert "$" in prices(watch) and "£" not in prices(watch)

    switch_region(watch, "GB")

    watch.locator('.affiliate-widget[data-region="GB"]').wait_for()
    assert "£" in prices(watch) and "$" not in prices(watch)
    assert page.url == host  # the host page stayed; only the widget was reloaded


# --- iframes --------------------------------------------------------------------------------

@pytest.mark.parametrize("widget", ["how-to-watch", "related-products"])
def test_iframe_fits_its_widget(page, demo_url, host_page, widget):
    page.goto(host_page(iframe_markup(demo_url, widget)))
    assert_iframe_fits(page, widget_frame(page))


def test_iframe_fits_again_after_a_region_change(page, demo_url, host_page):
    page.goto(host_page(iframe_markup(demo_url)))
    frame = widget_frame(page)
    us_height = assert_iframe_fits(page, frame)
    assert "$" in prices(frame)

    switch_region(frame, "GB")

    frame.locator('.affiliate-widget[data-region="GB"]').wait_for()
    assert "£" in prices(frame) and "$" not in prices(frame)
    gb_height = assert_iframe_fits(page, frame)
    assert gb_height != us_height  # GB has three platforms, the US four


# --- links ----------------------------------------------------------------------------------

def same_link(url: str, expected: str) -> bool:
    """The same destination: query parameters compared decoded ("%20" and "+" alike)."""
    def parts(link):
        split = urlsplit(link)
        return split.scheme, split.netloc, split.path, sorted(parse_qsl(split.query))
    return parts(url) == parts(expected)


def _link_of(page, widget: str, item_selector: str, name: str) -> str:
    item = page.locator(f".affiliate-widget.aff-{widget}").first.locator(
        item_selector, has_text=name).first
    return item.locator("a").first.evaluate("a => a.href")  # resolved against the page


def test_amazon_links_go_straight_to_amazon_with_the_tag(page, demo_url):
    """Amazon's Associates terms ask for direct links: no redirect of ours in between."""
    page.goto(demo_url + "/?region=US")
    for widget, item, name in [("how-to-watch", ".aff-row", "Amazon Prime Video"),
                               ("related-products", ".aff-card", "Leaving Las Vegas [Blu-ray]")]:
        href = _link_of(page, widget, item, name)
        assert same_link(href, STORED_LINKS[name]), (name, href)


def test_other_links_go_through_go_which_redirects_to_the_stored_link(page, demo_url):
    page.goto(demo_url + "/?region=US")
    for widget, item, name in [
            ("how-to-watch", ".aff-row", "Apple TV"),
            ("how-to-watch", ".aff-row", "Google Play Movies"),
            ("how-to-watch", ".aff-row", "Vudu"),
            ("related-products", ".aff-card",
             "Leaving Las Vegas, a novel by John O'Brien (paperback)")]:
        href = _link_of(page, widget, item, name)
        assert href.startswith(demo_url + "/go/"), (name, href)

        response = requests.get(href, allow_redirects=False, timeout=10)

        assert response.status_code in (302, 303, 307), (name, response.status_code)
        assert same_link(response.headers["Location"], STORED_LINKS[name]), (
            name, response.headers["Location"])
