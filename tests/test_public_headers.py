"""Every public answer says `nosniff` and a referrer policy that lets an affiliate network
see which site sent a visitor, but not the page; the console keeps its stricter headers."""
from __future__ import annotations

import pytest

from affiliate.admin.setup import SECURITY_HEADERS
from affiliate.delivery import PUBLIC_HEADERS
from tests.test_clicks import BROWSER, offer_id

LLV = "imdb:tt0113627"


def public_answers(client, demo):
    vudu, amazon = offer_id(demo, "Vudu"), offer_id(demo, "Amazon Prime Video")
    fragment = client.get(f"/widgets/how-to-watch/{LLV}?region=US")
    yield "fragment", fragment, 200
    yield "fragment 304", client.get(f"/widgets/how-to-watch/{LLV}?region=US",
                                     headers={"If-None-Match": fragment.headers["ETag"]}), 304
    yield "frame", client.get(f"/widgets/related-products/{LLV}/frame?region=US"), 200
    yield "offers", client.get(f"/api/v1/films/{LLV}/offers?region=US"), 200
    yield "products", client.get(f"/api/v1/films/{LLV}/products?region=GB"), 200
    yield "openapi", client.get("/api/v1/openapi.json"), 200
    yield "static", client.get("/affiliate/static/embed.js"), 200
    yield "demo page", client.get("/?region=US"), 200
    yield "redirect", client.get(f"/go/o{vudu}", headers=BROWSER), 302
    yield "beacon", client.post(f"/go/o{amazon}/beacon", headers=BROWSER), 204
    yield "unknown target", client.get("/go/o999999"), 404
    yield "unknown film", client.get("/widgets/how-to-watch/tmdb:999999999"), 404
    yield "bad parameter", client.get(f"/api/v1/films/{LLV}/offers?region=XX1"), 400
    yield "unknown path", client.get("/no/such/page"), 404
    yield "wrong method", client.post("/api/v1/openapi.json"), 405
    yield "list of changes", client.get("/widgets/changes/new?region=US"), 200
    yield "changes API", client.get("/api/v1/changes/leaving?region=US"), 200
    yield "feed", client.get("/feeds/changes.atom?region=US"), 200
    yield "film feed", client.get(f"/feeds/films/{LLV}.atom"), 200


def test_every_public_answer_says_nosniff_and_its_referrer_policy(client, demo):
    seen = []
    for name, response, status in public_answers(client, demo):
        assert response.status_code == status, name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", name
        seen.append(name)
    assert len(seen) == 19


@pytest.mark.parametrize("path", ["/admin/login", "/admin/nothing-here", "/admin/api/v1/films"])
def test_the_console_keeps_its_stricter_headers(client, path):
    response = client.get(path)
    assert response.headers["Referrer-Policy"] == SECURITY_HEADERS["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]


def test_the_headers_reach_a_host_apps_widget_routes_only(make_settings):
    from flask import Flask

    from affiliate import Affiliate

    host = Flask("host")
    host.add_url_rule("/", "home", lambda: "the host's page")
    Affiliate(host, make_settings())
    client = host.test_client()
    assert "Referrer-Policy" not in client.get("/").headers
    static = client.get("/affiliate/static/widgets.css")
    assert {name: static.headers[name] for name in PUBLIC_HEADERS} == PUBLIC_HEADERS
