"""The embed modes over HTTP: fragments readable cross-origin, iframe pages any site may
frame, the scripts that drive them, and the JSON API's filters. (What the scripts do in a
browser is tested in tests/browser/.)"""
from __future__ import annotations

import re

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
    assert f'class="affiliate-widget aff-{widget}"' in html and "US$" in html


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
    ("offers", "kind=rent,,Buy", "kind: 'Buy' is not one of subscription, free, ads, rent, buy"),
    ("products", "format=laserdisc", "format: 'laserdisc' is not one of blu-ray, dvd, 4k-uhd, "
     "soundtrack-cd, vinyl, digital-album, collection, book, merchandise"),
    ("products", "relation=sequel", "relation: 'sequel' is not one of edition, soundtrack, "
     "collection, source-novel, merchandise"),
])
def test_an_unknown_filter_value_is_a_400_naming_it(client, demo, resource, query, error):
    response = client.get(f"/api/v1/films/{LLV}/{resource}?{query}")
    assert response.status_code == 400
    assert response.json == {"error": error}
