"""The embed modes over HTTP: fragments readable cross-origin, iframe pages any site may
frame, the scripts that drive them, and the JSON API's filters. (What the scripts do in a
browser is tested in tests/browser/.)"""
from __future__ import annotations

import re
from html import unescape

import pytest

from affiliate import create_app, static_files

LLV = "imdb:tt0113627"


def test_fragments_and_the_api_can_be_fetched_from_any_origin(client, demo):
    for url in (f"/widgets/how-to-watch/{LLV}", f"/widgets/related-products/{LLV}",
                f"/api/v1/films/{LLV}/offers", f"/api/v1/films/{LLV}/products",
                "/api/v1/openapi.json"):
        response = client.get(url, headers={"Origin": "https://films.example"})
        assert response.status_code == 200, url
        assert response.headers["Access-Control-Allow-Origin"] == "*", url


def test_fragment_links_are_absolute_so_they_work_on_the_host_page(client, demo):
    html = client.get(f"/widgets/how-to-watch/{LLV}?region=US").text
    hrefs = re.findall(r'<a class="aff-action" href="([^"]+)"', html)
    assert hrefs and all(href.startswith(("http://", "https://")) for href in hrefs)


@pytest.mark.parametrize("widget", ["how-to-watch", "related-products"])
def test_the_frame_is_a_whole_page_that_reports_its_height(client, demo, widget):
    response = client.get(f"/widgets/{widget}/{LLV}/frame?region=US&locale=en_GB")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.text
    assert html.startswith("<!doctype html>") and '<html lang="en-GB">' in html
    assert "<title>Leaving Las Vegas</title>" in html
    version = static_files.version()
    assert f'<script src="/affiliate/static/frame.js?v={version}" defer></script>' in html
    assert f'<link rel="stylesheet" href="/affiliate/static/widgets.css?v={version}">' in html
    assert f'class="affiliate-widget aff-{widget} aff-layout-list"' in html and "US$" in html


def test_any_site_may_frame_the_frame_page(client, demo):
    response = client.get(f"/widgets/how-to-watch/{LLV}/frame")
    assert response.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert "X-Frame-Options" not in response.headers


def test_the_sites_allowed_to_frame_are_configurable(make_settings, demo):
    app = create_app(make_settings(
        http={"frame_ancestors": ["https://films.example", "https://*.films.example"]}))
    try:
        response = app.test_client().get(f"/widgets/how-to-watch/{LLV}/frame")
        assert response.headers["Content-Security-Policy"] == (
            "frame-ancestors https://films.example https://*.films.example")
    finally:
        app.extensions["affiliate"].db.dispose()


def test_a_frame_ancestor_cannot_smuggle_another_directive(make_settings):
    from affiliate.config import ConfigError

    with pytest.raises(ConfigError, match="http.frame_ancestors"):
        make_settings(http={"frame_ancestors": ["https://a.example; script-src *"]})


@pytest.mark.parametrize("script, needle", [
    ("embed.js", "data-affiliate-widget"),
    ("fallback.js", "data-aff-fallback"),
    ("frame.js", "affiliate:resize"),
    ("frame-parent.js", "affiliate:resize"),
])
def test_the_scripts_are_served_beside_the_stylesheet(client, script, needle):
    response = client.get(f"/affiliate/static/{script}")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert needle in response.text


# --- JSON API filters -----------------------------------------------------------------------

def test_offers_filter_by_kind_repeated_or_comma_separated(client, demo):
    def kinds(query):
        response = client.get(f"/api/v1/films/{LLV}/offers?region=US&{query}")
        assert response.status_code == 200, response.json
        return [group["kind"] for group in response.json["groups"]]

    assert kinds("") == ["rent", "buy"]
    assert kinds("kind=buy") == ["buy"]
    assert kinds("kind=rent&kind=buy") == kinds("kind=rent,buy") == ["rent", "buy"]
    assert kinds("kind=subscription") == []


def test_products_filter_by_format_and_relation(client, demo):
    def titles(query):
        response = client.get(f"/api/v1/films/{LLV}/products?region=US&{query}")
        assert response.status_code == 200, response.json
        return [(p["format"], p["relation"]) for p in response.json["products"]]

    assert titles("format=blu-ray") == [("blu-ray", "edition")]
    assert titles("format=dvd,collection") == [("dvd", "edition"), ("collection", "collection")]
    assert titles("format=dvd,collection&relation=collection") == [("collection", "collection")]
    assert titles("format=dvd&relation=collection") == []
    assert titles("relation=soundtrack,source-novel") == [
        ("soundtrack-cd", "soundtrack"), ("book", "source-novel")]


@pytest.mark.parametrize("resource, query, error", [
    ("offers", "kind=stream", "kind: 'stream' is not one of subscription, free, ads, rent, buy"),
    ("offers", "kind=rent,Buy", "kind: 'Buy' is not one of subscription, free, ads, rent, buy"),
    ("offers", "kind=rent,,buy", "kind: '' is not one of subscription, free, ads, rent, buy"),
    ("products", "format=laserdisc", "format: 'laserdisc' is not one of blu-ray, dvd, 4k-uhd, "
     "soundtrack-cd, vinyl, digital-album, collection, book, merchandise"),
    ("products", "relation=sequel", "relation: 'sequel' is not one of edition, soundtrack, "
     "collection, source-novel, merchandise"),
])
def test_an_unknown_filter_value_is_a_400_naming_it(client, demo, resource, query, error):
    response = client.get(f"/api/v1/films/{LLV}/{resource}?{query}")
    assert response.status_code == 400
    assert response.json == {"error": error}


# --- layouts --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"/widgets/how-to-watch/{LLV}", f"/widgets/related-products/{LLV}/frame",
])
def test_the_compact_layout_is_its_own_rendering_with_its_own_etag(client, demo, path):
    default = client.get(f"{path}?region=US")
    listed = client.get(f"{path}?region=US&layout=list")
    compact = client.get(f"{path}?region=US&layout=compact")
    assert default.status_code == listed.status_code == compact.status_code == 200
    assert 'aff-layout-list"' in default.text and default.text == listed.text
    assert default.headers["ETag"] == listed.headers["ETag"]
    assert 'aff-layout-compact"' in compact.text
    assert compact.headers["ETag"] != default.headers["ETag"]
    # Each is cached under its own key: asking again gives each its own answer.
    again = client.get(f"{path}?region=US&layout=compact",
                       headers={"If-None-Match": compact.headers["ETag"]})
    assert again.status_code == 304
    assert client.get(f"{path}?region=US").text == default.text


def test_compact_how_to_watch_is_a_row_of_tiles_with_the_lowest_price(client, demo):
    html = client.get(f"/widgets/how-to-watch/{LLV}?region=US&layout=compact").text
    assert 'class="aff-tiles"' in html and 'class="aff-rows"' not in html
    # Vudu rents from $1.99 (SD) to $3.99 (HD): its tile names it and shows only the lowest.
    vudu = re.search(r'<a class="aff-tile-link"[^>]*title="Rent Leaving Las Vegas on Vudu".*?</a>',
                     html, re.S).group(0)
    assert ">Vudu</span>" in vudu and "$1.99" in vudu and "$3.99" not in vudu
    assert 'fill="#3399FF"' in vudu  # Vudu's brand colour, drawn: no logo file, no inline style


@pytest.mark.parametrize("path", [
    f"/widgets/how-to-watch/{LLV}", f"/widgets/related-products/{LLV}/frame",
    f"/api/v1/films/{LLV}/offers", f"/api/v1/films/{LLV}/products", "/",
])
def test_an_unknown_layout_is_a_400_naming_the_allowed_ones(client, demo, path):
    response = client.get(f"{path}?layout=grid")
    assert response.status_code == 400
    assert "layout: 'grid' is not one of list, compact" in unescape(response.text)


def test_the_api_takes_either_layout_and_answers_the_same_data(client, demo):
    answers = [client.get(f"/api/v1/films/{LLV}/products?region=US{query}")
               for query in ("", "&layout=list", "&layout=compact")]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].json == answers[1].json == answers[2].json


def test_the_host_app_renders_the_layout_it_asks_for(app, demo):
    from affiliate.blueprint import BadParameter, render_how_to_watch, render_related_products

    with app.test_request_context("/films/leaving-las-vegas"):
        assert 'aff-layout-compact"' in render_how_to_watch(LLV, region="US", layout="compact")
        assert 'aff-layout-list"' in render_related_products(LLV, region="US")
        with pytest.raises(BadParameter, match="layout: 'grid' is not one of list, compact"):
            render_related_products(LLV, layout="grid")
