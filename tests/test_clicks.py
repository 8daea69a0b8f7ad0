"""Clicks: /go/<target> redirects to the stored link only and counts visitors' clicks, direct
(Amazon) links are counted by beacon, and the click reports add them up."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from affiliate import clicks, static_files
from affiliate.models import Click, Film, FilmProduct, Offer, Platform, Product
from tests.test_widgets import Page

LLV = "imdb:tt0113627"
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/126.0 Safari/537.36"}


def offer_id(db, platform: str, region: str = "US", kind: str = "rent") -> int:
    with db.session() as session:
        return session.exec(
            select(Offer.id).join(Platform, Platform.id == Offer.platform_id)
            .where(Platform.name == platform, Offer.region == region, Offer.kind == kind)
            .order_by(Offer.id)).first()


def product_id(db, merchant_id: str) -> int:
    with db.session() as session:
        return session.exec(select(Product.id).where(Product.merchant_id == merchant_id)).one()


def film_id(db, ref: str = LLV) -> int:
    with db.session() as session:
        return session.exec(select(Film.id).where(Film.imdb_id == ref.removeprefix("imdb:"))).one()


def stored_clicks(db) -> list[Click]:
    with db.session() as session:
        return list(session.exec(select(Click).order_by(Click.id)))


# --- /go/<target> ----------------------------------------------------------------------------

def test_a_click_redirects_to_the_stored_link_and_is_counted(client, demo):
    vudu = offer_id(demo, "Vudu")

    response = client.get(f"/go/o{vudu}", headers=BROWSER)

    assert response.status_code == 302
    assert response.location == "https://www.vudu.com/content/browse/search?searchString=Leaving%20Las%20Vegas"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert "Set-Cookie" not in response.headers
    (click,) = stored_clicks(demo)
    assert (click.film_id, click.offer_id, click.product_id) == (film_id(demo), vudu, None)
    assert (click.target, click.region, click.kind, click.widget, click.via) == (
        "Vudu", "US", "rent", "how-to-watch", "redirect")
    assert click.day == click.at.date()


def test_no_request_parameter_changes_where_a_click_goes(client, demo):
    vudu = offer_id(demo, "Vudu")
    expected = client.get(f"/go/o{vudu}").location
    for query in ("?url=https://evil.example/", "?next=//evil.example", "?film=999&link=x",
                  "?target=o1"):
        assert client.get(f"/go/o{vudu}{query}").location == expected, query


@pytest.mark.settings(link_tags=[{"host": "vudu.com", "params": {"aff": "site-1"}}])
def test_the_operators_tags_are_added_at_the_redirect(client, demo):
    location = client.get(f"/go/o{offer_id(demo, 'Vudu')}").location
    assert location.endswith("searchString=Leaving+Las+Vegas&aff=site-1")


def test_a_product_click_counts_for_the_film_it_was_shown_with(client, demo):
    novel = product_id(demo, "leaving-las-vegas-john-obrien")
    llv, other = film_id(demo), film_id(demo, "imdb:tt0037884")
    with demo.session() as session:  # the book shown with a second film too
        session.add(FilmProduct(film_id=other, product_id=novel, relation="source-novel", source="test"))

    visitors = (dict(headers=BROWSER, environ_base={"REMOTE_ADDR": f"203.0.113.{n}"})
                for n in range(1, 5))
    assert client.get(f"/go/p{novel}?film={other}", **next(visitors)).status_code == 302
    client.get(f"/go/p{novel}", **next(visitors))  # no film named: the first it was linked to
    client.get(f"/go/p{novel}?film=99999", **next(visitors))  # not one it is shown with
    client.get(f"/go/p{novel}?film=abc", **next(visitors))

    assert [c.film_id for c in stored_clicks(demo)] == [other, llv, llv, llv]
    click = stored_clicks(demo)[0]
    assert (click.product_id, click.target, click.kind, click.widget) == (
        novel, "Bookshop.org", "book", "related-products")


@pytest.mark.parametrize("target, reason", [
    ("x12", "'x12' is not a link target such as o12 (an offer) or p7 (a product)"),
    ("o", "'o' is not a link target"),
    ("o0", "'o0' is not a link target"),
    ("o012", "'o012' is not a link target"),
    ("o-1", "'o-1' is not a link target"),
    ("o99999999999", "'o99999999999' is not a link target"),
    ("o9999999", "no offer 9999999"),
    ("p9999999", "no product 9999999"),
])
def test_unknown_or_malformed_targets_are_a_404_with_the_reason(client, demo, target, reason):
    response = client.get(f"/go/{target}", headers=BROWSER)
    assert response.status_code == 404
    assert response.mimetype == "text/plain" and response.text.startswith(reason)
    assert response.headers["Cache-Control"] == "no-store"
    assert stored_clicks(demo) == []


@pytest.mark.parametrize("headers", [
    {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    {"User-Agent": "facebookexternalhit/1.1"},
    {"User-Agent": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0"},
    {"User-Agent": "curl/8.5.0"},
    {"User-Agent": "python-requests/2.32"},
    {"User-Agent": ""},
    {**BROWSER, "Sec-Purpose": "prefetch"},
    {**BROWSER, "Sec-Purpose": "prefetch;prerender"},
    {**BROWSER, "Purpose": "prefetch"},
    {**BROWSER, "X-Moz": "prefetch"},
    {**BROWSER, "X-Purpose": "preview"},
    # Link previews and HTTP libraries that fetch a shared link (issue 14).
    {"User-Agent": "WhatsApp/2.24.6.77 A"},
    {"User-Agent": "Signal/7.12.0 (Android 14)"},
    {"User-Agent": "Iframely/1.3.1 (+https://iframely.com/docs/about)"},
    {"User-Agent": "Mozilla/5.0 (Linux; Android 10; Google-Read-Aloud; "
                   "+https://support.google.com/webmasters/answer/1061943)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)"},
    {"User-Agent": "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"},
    {"User-Agent": "axios/1.7.2"},
    {"User-Agent": "Apache-HttpClient/4.5.14 (Java/17.0.9)"},
    # Only on the maintained list (crawlerdetect).
    {"User-Agent": "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Yahoo Ad monitoring; https://help.yahoo.com/kb/yahoo-ad-monitoring-SLN24857.html)"},
    {"User-Agent": "Screaming Frog SEO Spider/19.0"},
    {"User-Agent": "Mediapartners-Google"},
    {"User-Agent": "   "},
], ids=lambda headers: next(f"{k}: {v}"[:40] for k, v in reversed(headers.items())))
def test_robots_and_prefetches_are_redirected_but_not_counted(client, demo, headers):
    response = client.get(f"/go/o{offer_id(demo, 'Vudu')}", headers=headers)
    assert response.status_code == 302
    assert stored_clicks(demo) == []


@pytest.mark.parametrize("agent", [
    BROWSER["User-Agent"],
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
])
def test_browsers_are_visitors(agent):
    assert clicks.is_counted("GET", {"User-Agent": agent})


def test_a_head_request_is_redirected_but_not_counted(client, demo):
    response = client.head(f"/go/o{offer_id(demo, 'Vudu')}", headers=BROWSER)
    assert response.status_code == 302 and response.location.startswith("https://www.vudu.com/")
    assert stored_clicks(demo) == []


def test_a_click_that_cannot_be_stored_still_gets_the_visitor_there(client, demo, monkeypatch):
    def broken(*args):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(clicks, "record_click", broken)
    response = client.get(f"/go/o{offer_id(demo, 'Vudu')}", headers=BROWSER)
    assert response.status_code == 302 and response.location.startswith("https://www.vudu.com/")


# --- Direct (Amazon) links and their beacon -----------------------------------------------

def test_amazon_links_are_never_redirected(client, demo):
    amazon = offer_id(demo, "Amazon Prime Video")
    response = client.get(f"/go/o{amazon}", headers=BROWSER)
    assert response.status_code == 404
    assert response.text == (f"o{amazon} links to its store directly; its clicks are counted by "
                             f"POST /go/o{amazon}/beacon")
    assert stored_clicks(demo) == []


def test_a_beacon_counts_a_direct_click(client, demo):
    blu_ray = product_id(demo, "B0DEMOLLV1")

    response = client.post(f"/go/p{blu_ray}/beacon?film={film_id(demo)}", headers=BROWSER)

    assert response.status_code == 204 and response.data == b""
    assert response.headers["Cache-Control"] == "no-store"
    (click,) = stored_clicks(demo)
    assert (click.product_id, click.target, click.kind, click.via) == (
        blu_ray, "Amazon", "blu-ray", "beacon")


def test_beacons_only_count_direct_links_and_only_visitors(client, demo):
    vudu = offer_id(demo, "Vudu")
    response = client.post(f"/go/o{vudu}/beacon", headers=BROWSER)
    assert response.status_code == 404
    assert response.text == f"o{vudu} is counted when /go/o{vudu} redirects; it takes no beacon"
    assert client.post("/go/nonsense/beacon").status_code == 404
    assert client.get(f"/go/o{vudu}/beacon").status_code == 405
    amazon = offer_id(demo, "Amazon Prime Video")
    assert client.post(f"/go/o{amazon}/beacon", headers={"User-Agent": "Googlebot"}).status_code == 204
    assert stored_clicks(demo) == []


def test_the_beacon_script_reports_clicks_on_links_that_carry_a_beacon(client):
    script = client.get("/affiliate/static/beacon.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    source = script.get_data(as_text=True)
    assert "navigator.sendBeacon" in source and "a[data-aff-beacon]" in source
    assert "auxclick" in source  # a middle click opens the link too


def test_the_demo_page_loads_the_beacon_script(client, demo):
    html = client.get("/").text
    assert f'<script src="/affiliate/static/beacon.js?v={static_files.version()}" defer></script>' in html
    assert "<script>" not in html  # nothing inline


@pytest.mark.parametrize("url, direct", [
    ("https://www.amazon.com/dp/B0019X3YXQ?tag=site-20", True),
    ("https://www.amazon.co.uk/dp/B0019X3YXQ", True),
    ("https://amazon.de/dp/B0019X3YXQ", True),
    ("https://www.amazon.com.au/dp/B0019X3YXQ", True),
    ("https://amzn.to/3xyz", True),
    ("https://www.primevideo.com/detail/0ABC", True),
    ("https://tv.apple.com/us/movie/x", False),
    ("https://www.amazon.com.evil.example/dp/x", False),
    ("https://notamazon.com/dp/x", False),
    ("https://amazon.example/x", False),
])
def test_which_links_must_stay_direct(url, direct):
    assert clicks.is_direct(url) is direct


# --- Reports ------------------------------------------------------------------------------

def click(db, day: int, film: int, name: str, region: str = "US") -> None:
    when = dt.datetime(2026, 3, day, 20, 0, tzinfo=dt.timezone.utc)
    with db.session() as session:
        session.add(Click(at=when, day=when.date(), film_id=film, target=name, region=region,
                          kind="rent", widget="how-to-watch", via="redirect"))


def test_clicks_by_day_per_platform_or_region(demo):
    llv, other = film_id(demo), film_id(demo, "imdb:tt0037884")
    for day, film, name, region in [(1, llv, "Vudu", "US"), (1, llv, "Vudu", "US"),
                                    (1, other, "Apple TV", "GB"), (2, llv, "Amazon", "US"),
                                    (3, llv, "Vudu", "US"), (5, llv, "Vudu", "US")]:
        click(demo, day, film, name, region)
    since, until = dt.date(2026, 3, 1), dt.date(2026, 3, 3)

    by_platform = clicks.clicks_by_day(demo, since, until)
    assert [(c.day.day, c.key, c.clicks) for c in by_platform] == [
        (1, "Vudu", 2), (1, "Apple TV", 1), (2, "Amazon", 1), (3, "Vudu", 1)]
    by_region = clicks.clicks_by_day(demo, since, until, by="region")
    assert [(c.day.day, c.key, c.clicks) for c in by_region] == [
        (1, "US", 2), (1, "GB", 1), (2, "US", 1), (3, "US", 1)]
    with pytest.raises(ValueError, match="by: 'film' is not one of platform, region"):
        clicks.clicks_by_day(demo, since, until, by="film")


def test_top_films(demo):
    llv, other, third = film_id(demo), film_id(demo, "imdb:tt0037884"), film_id(demo, "imdb:tt0055895")
    for day, film in [(1, llv), (1, llv), (2, other), (2, llv), (2, third), (3, third), (9, other)]:
        click(demo, day, film, "Vudu")

    top = clicks.top_films(demo, dt.date(2026, 3, 1), dt.date(2026, 3, 3), limit=2)

    assert [(f.ref, f.title, f.year, f.clicks) for f in top] == [
        (LLV, "Leaving Las Vegas", 1995, 3), ("imdb:tt0055895", "Days of Wine and Roses", 1962, 2)]
    assert top[0].film_id == llv


def test_clicks_through_the_widget_add_up_in_the_report(client, demo):
    html = client.get(f"/widgets/how-to-watch/{LLV}?region=US").text
    for link in Page(html).links:
        if link.get("class") != "aff-action":
            continue
        if "data-aff-beacon" in link:
            client.post(link["data-aff-beacon"], headers=BROWSER)
        else:
            assert client.get(link["href"], headers=BROWSER).status_code == 302
    today = stored_clicks(demo)[0].day

    report = {(c.key, c.clicks) for c in clicks.clicks_by_day(demo, today, today)}

    assert report == {("Amazon Prime Video", 2), ("Apple TV", 2), ("Google Play Movies", 2), ("Vudu", 2)}
    assert {c.via for c in stored_clicks(demo)} == {"redirect", "beacon"}
    assert re.fullmatch(r"imdb:tt\d+", clicks.top_films(demo, today, today)[0].ref)
