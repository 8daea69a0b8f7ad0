"""Only our affiliate parameters: the third-party ones a source's links carry (Watchmode's
own Apple `at`, Fandango's and Google Play's PAffiliateID, an empty Amazon `tag=`, Microsoft's
Rakuten ids) are removed when links are stored, and from links stored before, by migration
0005; then the operator's [[link_tags]] apply, on rendered and redirected links alike."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from sqlalchemy import text
from sqlmodel import select

from affiliate.catalog import reconcile
from affiliate.db import Database
from affiliate.models import Film, Offer
from affiliate.refresh import run_refresh
from providers.base import (
    FilmKey,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProviderResult,
    Quality,
)
from providers.link_policy import AMAZON, APPLE, FANDANGO, GOOGLE_PLAY, MICROSOFT, LinkPolicy
from providers.pacing import Pacer
from providers.watchmode import WatchmodeProvider
from tests.recorded import recorded

WM = "https://watchmode.links.test"
THIRD_PARTY = {"at", "ct", "paffiliateid", "pcamrefid", "tag", "linkcode", "ranmid", "raneaid",
               "ransiteid", "epi", "irgwc"}
LLV = FilmKey(imdb_id="tt0113627")
WATCHMODE_LINKS = LinkPolicy(third_party=(APPLE, AMAZON, GOOGLE_PLAY, FANDANGO, MICROSOFT))


def names(url: str) -> set[str]:
    return {name.lower() for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}


@pytest.mark.parametrize("link, stripped", [
    ("https://tv.apple.com/us/movie/leaving-las-vegas/umc.cmc.4dmj5xdbx0opam1x0r3h6s5kh?at=1000lSWM&ct=watchmode",
     "https://tv.apple.com/us/movie/leaving-las-vegas/umc.cmc.4dmj5xdbx0opam1x0r3h6s5kh"),
    ("https://itunes.apple.com/us/movie/leaving-las-vegas/id273929473?uo=4&at=1000lSWM",
     "https://itunes.apple.com/us/movie/leaving-las-vegas/id273929473?uo=4"),
    ("https://www.amazon.com/gp/video/detail/amzn1.dv.gti.2ea9f6f3?tag=&linkCode=osi",
     "https://www.amazon.com/gp/video/detail/amzn1.dv.gti.2ea9f6f3"),
    ("https://www.amazon.co.uk/dp/B00004RF9B?TAG=other-21&th=1", "https://www.amazon.co.uk/dp/B00004RF9B?th=1"),
    ("https://play.google.com/store/movies/details?id=8dTaKqBvXcE&PAffiliateID=110l3Jxb&PCamRefID=wm",
     "https://play.google.com/store/movies/details?id=8dTaKqBvXcE"),
    ("https://athome.fandango.com/content/movies/details/Leaving-Las-Vegas/13937?PAffiliateID=110l3Jxb",
     "https://athome.fandango.com/content/movies/details/Leaving-Las-Vegas/13937"),
    ("https://www.vudu.com/content/movies/details/title/13937?cmp=partner&PAffiliateID=x",
     "https://www.vudu.com/content/movies/details/title/13937"),
    ("https://www.microsoft.com/en-us/p/leaving-las-vegas/8d6kgwzl5b7f?activetab=pivot:overviewtab"
     "&ranMID=24542&ranEAID=TnL5HPStwNw&ranSiteID=TnL5HPStwNw-x&epi=TnL5HPStwNw-x&irgwc=1#reviews",
     "https://www.microsoft.com/en-us/p/leaving-las-vegas/8d6kgwzl5b7f?activetab=pivot:overviewtab#reviews"),
    # Other hosts keep their parameters, even ones named alike.
    ("https://www.netflix.com/title/60036359?at=1", "https://www.netflix.com/title/60036359?at=1"),
    ("https://notapple.com/movie?at=1", "https://notapple.com/movie?at=1"),
])
def test_real_shaped_store_links_lose_only_the_third_party_parameters(link, stripped):
    assert WATCHMODE_LINKS.clean(link) == (stripped, None)


def test_a_link_stripping_would_leave_at_a_bare_host_is_kept_and_reported(db):
    ruined = "https://play.google.com/?PAffiliateID=110l3Jxb"
    with db.session() as session:
        session.add(Film(title="Leaving Las Vegas", imdb_id="tt0113627"))
    result = ProviderResult(offers=[OfferRecord(LLV, PlatformRecord("google-play-movies", "Google Play"),
                                                "US", OfferKind.BUY, Quality.HD, ruined)],
                            covered={LLV}, complete=True)

    stats = reconcile(db, "wm", result, 3, link_policy=WATCHMODE_LINKS)

    with db.session() as session:
        assert session.exec(select(Offer.link)).one() == ruined
    assert [str(problem) for problem in stats.problems] == [
        "offer 0: stripping third-party affiliate parameters would leave only play.google.com; "
        "link kept as it was"]


@pytest.fixture
def watchmode(make_settings, monkeypatch):
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    return make_settings(
        providers={"wm": {"type": "watchmode", "base_url": WM, "api_key": "wm-links-key-7c1e9b"}},
        link_tags=[{"host": "apple.com", "params": {"at": "our-apple-token"}},
                   {"host": "play.google.com", "params": {"PAffiliateID": "our-play-id"}}],
        service={"demo_catalog": False})


def refresh_watchmode(db, settings):
    with responses.RequestsMock() as api:
        api.get(f"{WM}/v1/search/", body=recorded("watchmode/search_tt0113627.json"),
                content_type="application/json")
        api.get(f"{WM}/v1/title/1266026/sources/", body=recorded("watchmode/sources_1266026.json"),
                content_type="application/json")
        (report,) = run_refresh(db, settings, "wm", "imdb:tt0113627")
    assert report.status == "complete", report


def test_stored_links_carry_no_third_party_parameter_and_keep_their_own(app, db, watchmode):
    refresh_watchmode(db, watchmode)

    with db.session() as session:
        links = session.exec(select(Offer.link)).all()
    assert len(links) == 11
    assert not [link for link in links if names(link) & THIRD_PARTY]
    assert "https://play.google.com/store/movies/details?id=8dTaKqBvXcE" in links
    assert ("https://www.microsoft.com/en-us/p/leaving-las-vegas/8d6kgwzl5b7f"
            "?activetab=pivot:overviewtab") in links


def test_rendered_and_redirected_links_carry_only_the_operators_tags(db, watchmode):
    from affiliate import create_app

    app = create_app(watchmode)
    refresh_watchmode(db, watchmode)
    client = app.test_client()
    api = client.get("/api/v1/films/imdb:tt0113627/offers?region=US").get_json()
    html = client.get("/widgets/how-to-watch/imdb:tt0113627?region=US").text

    links = {row["name"]: row["link"] for group in api["groups"] for row in group["platforms"]}
    assert dict(parse_qsl(urlsplit(links["Apple TV"]).query)) == {"at": "our-apple-token"}
    assert dict(parse_qsl(urlsplit(links["Google Play Movies"]).query)) == {
        "id": "8dTaKqBvXcE", "PAffiliateID": "our-play-id"}
    for link in links.values():
        assert not names(link) & (THIRD_PARTY - {"at", "paffiliateid"}), link
    hrefs = {part.split('"')[0].replace("&amp;", "&") for part in html.split('href="')[1:]}
    redirects = {client.get(href).location for href in hrefs if "/go/o" in href}
    assert len(redirects) >= 5 and redirects <= set(links.values())
    direct = {href for href in hrefs if href.startswith("https://www.amazon.")}
    assert direct and direct <= set(links.values())  # Amazon's, linked as they are


def test_migration_0005_strips_links_stored_before_and_fills_their_end(database_url):
    db = Database(database_url)
    db.upgrade("0004")
    with db.engine.begin() as connection:
        for statement in (
            "INSERT INTO provider_state (name, type, consecutive_failures, breaker_state) "
            "VALUES ('wm', 'watchmode', 0, 'closed'), ('gone', 'ftp', 0, 'closed')",
            "INSERT INTO film (id, title, created_at, revision) VALUES (1, 'Leaving Las Vegas', "
            "'2026-01-01 00:00:00', 0)",
            "INSERT INTO platform (id, slug, name) VALUES (1, 'apple-tv', 'Apple TV')",
        ):
            connection.execute(text(statement))
        for offer_id, source, link, expires in (
            (1, "wm", "https://tv.apple.com/us/movie/x/umc.cmc.1?at=1000lSWM&ct=watchmode", "2026-07-31"),
            (2, "gone", "https://tv.apple.com/us/movie/x/umc.cmc.1?at=1000lSWM", None),
        ):
            connection.execute(text(
                "INSERT INTO offer (id, film_id, platform_id, region, kind, quality, link, "
                "deep_link, expires_on, source, first_seen, last_seen, last_checked, "
                "missing_count, hidden) VALUES (:id, 1, 1, 'US', 'rent', 'HD', :link, true, "
                ":expires, :source, '2026-01-01 00:00:00', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', 0, false)"),
                {"id": offer_id, "link": link, "expires": expires, "source": source})

    db.upgrade()

    with db.session() as session:
        stripped, untouched = session.exec(select(Offer).order_by(Offer.id)).all()
    assert stripped.link == "https://tv.apple.com/us/movie/x/umc.cmc.1"
    # No installed adapter says what the `ftp` type's links carry: left as they are.
    assert untouched.link.endswith("?at=1000lSWM")
    # The end of 31 July in New York, the US's zone.
    assert stripped.expires_at == dt.datetime(2026, 8, 1, 4, tzinfo=dt.timezone.utc)
    assert untouched.expires_at is None
    db.dispose()


def test_the_watchmode_adapter_declares_the_programmes_its_links_carry():
    assert WatchmodeProvider.link_policy == WATCHMODE_LINKS
