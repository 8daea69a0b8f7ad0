"""The real sources together: every adapter pointed at one local stand-in server answering
their documented formats, `affiliate refresh --film imdb:...` on an empty catalog, then the
widget a visitor sees."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from affiliate.__main__ import main
from providers.pacing import Pacer
from tests.recorded import recorded, recorded_json
from tests.standin import Answer

APPLE_JSON = {"Content-Type": "text/javascript; charset=utf-8"}


def well_formed_search() -> dict:
    """The recorded MoviesAndTV search without its deliberately malformed entry."""
    answer = recorded_json("amazon/search_movies.json")
    items = answer["searchResult"]["items"]
    answer["searchResult"]["items"] = [item for item in items if item["asin"] != "B0BADENTRY"]
    return answer


@pytest.fixture
def sources(standin):
    """Each provider's documented answers for Leaving Las Vegas, at its usual paths."""
    standin.route("GET", "/3/find/tt0113627", Answer(200, recorded("tmdb/find_tt0113627.json")))
    standin.route("GET", "/3/movie/451", Answer(200, recorded("tmdb/details_451.json")))
    standin.route("GET", "/3/watch/providers/movie", Answer(200, recorded("tmdb/providers_movie_gb.json")),
                  when={"watch_region": "GB"})
    standin.route("GET", "/3/movie/451/watch/providers",
                  Answer(200, recorded("tmdb/watch_providers_451.json")))
    standin.route("GET", "/shows/tt0113627",
                  Answer(200, recorded("streaming_availability/show_tt0113627_us.json")))
    standin.route("GET", "/v1/search/", Answer(200, recorded("watchmode/search_tt0113627.json")))
    standin.route("GET", "/v1/title/1266026/sources/",
                  Answer(200, recorded("watchmode/sources_1266026.json")))
    standin.route("GET", "/search", Answer(200, recorded("itunes/search_movie_leaving_las_vegas.json"),
                                           APPLE_JSON), when={"media": "movie"})
    standin.route("GET", "/search", Answer(200, recorded("itunes/search_album_leaving_las_vegas.json"),
                                           APPLE_JSON), when={"media": "music"})
    standin.route("GET", "/lookup", Answer(200, recorded("itunes/lookup_leaving_las_vegas.json"),
                                           APPLE_JSON))
    standin.route("POST", "/auth/o2/token", Answer(200, recorded("amazon/token_lwa.json")))
    standin.route("POST", "/catalog/v1/searchItems", Answer(200, json.dumps(well_formed_search())))
    standin.route("POST", "/catalog/v1/getItems", Answer(200, recorded("amazon/get_items.json")))
    return standin


def no_pacing(monkeypatch):
    """The adapters space their own calls to the sources' limits; a stand-in needs no wait."""
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))


@pytest.fixture
def run(database_url, sources, tmp_path):
    url = sources.url
    (tmp_path / "config.toml").write_text(f"""
[service]
database_url = "{database_url}"
demo_catalog = false

[providers.tmdb]
type = "tmdb"
base_url = "{url}"
read_access_token = "tmdb-token-0123456789"
regions = ["US", "GB"]

[providers.motn]
type = "streaming-availability"
base_url = "{url}"
api_key = "motn-key-0123456789"

[providers.watchmode]
type = "watchmode"
base_url = "{url}"
api_key = "watchmode-key-0123456789"

[providers.apple]
type = "itunes"
base_url = "{url}"
affiliate_token = "1000lABC"

[providers.amazon]
type = "amazon"
base_url = "{url}"
token_url = "{url}/auth/o2/token"
credential_id = "amazon-credential-id"
credential_secret = "amazon-secret-0123456789"
credential_version = "3.1"
partner_tag = "filmsite-20"
""")
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args))


def test_refresh_by_imdb_id_fills_an_empty_catalog_from_every_source(run, sources, monkeypatch):
    no_pacing(monkeypatch)
    assert run("db", "upgrade").exit_code == 0

    result = run("refresh", "--film", "imdb:tt0113627")

    assert result.exit_code == 0, result.output
    for name in ("tmdb", "motn", "watchmode", "apple", "amazon"):
        assert f"{name}: complete." in result.output, result.output
    assert re.search(r"Leaving Las Vegas \(1995\)\s+imdb:tt0113627 tmdb:451", run("films", "list").output)
    secrets = ("tmdb-token-0123456789", "motn-key-0123456789", "watchmode-key-0123456789")
    assert not any(secret in request.path + str(request.query)
                   for request in sources.requests for secret in secrets)


def widget(name="how-to-watch") -> str:
    from affiliate import create_app
    from affiliate.config import load_settings

    app = create_app(load_settings())
    html = app.test_client().get(f"/widgets/{name}/imdb:tt0113627?region=US").text
    app.extensions["affiliate"].db.dispose()
    return html


def destination(row_html: str) -> str:
    """Where a row's link leads: through /go/<target>, which redirects to the stored link."""
    from affiliate import create_app
    from affiliate.config import load_settings

    href = re.search(r'class="aff-action" href="([^"]+)"', row_html)[1]
    app = create_app(load_settings())
    location = app.test_client().get(href).location
    app.extensions["affiliate"].db.dispose()
    return location


def group(html: str, kind: str) -> str:
    return html.split(f'id="affiliate-how-to-watch-1-{kind}"')[1].split("</section>")[0]


def row(group_html: str, platform: str) -> str:
    return group_html.split(f'aff-platform">{platform}</span>')[1].split("</a>")[0]


def test_the_widget_merges_every_source_with_deep_links_prices_and_credits(run, monkeypatch):
    no_pacing(monkeypatch)
    run("db", "upgrade")
    run("refresh", "--film", "imdb:tt0113627")

    html = widget()

    rent = group(html, "rent")
    apple = row(rent, "Apple TV")
    assert "SD $2.99" in apple and "HD $3.99" in apple
    assert destination(apple).startswith("https://tv.apple.com/us/movie/leaving-las-vegas/")
    assert "themoviedb.org" not in html  # TMDB only confirmed what others link deeper
    assert "JustWatch" not in html  # so its data is not shown, nor its credit
    assert "?uo=4&at=1000lABC" in destination(row(group(html, "buy"), "Apple TV"))  # the operator's token
    for credit in ("Streaming Availability API by Movie of the Night",
                   "Streaming availability by Watchmode"):
        assert credit in html


def test_platforms_only_tmdb_knows_link_to_its_watch_page_with_its_credits(run, monkeypatch):
    no_pacing(monkeypatch)
    run("db", "upgrade")
    run("refresh", "--film", "imdb:tt0113627")
    run("refresh", "--film", "tmdb:451", "--provider", "tmdb")  # a stored film: watch/providers

    html = widget()

    mgm = row(group(html, "subscription"), "MGM+")
    assert destination(mgm) == "https://www.themoviedb.org/movie/451-leaving-las-vegas/watch?locale=US"
    assert "Streaming data from JustWatch" in html
    assert "not endorsed or certified by TMDB" in html


def test_discoveries_are_scored_then_show_with_amazons_rules_once_approved(run, monkeypatch):
    """TMDB's credits come first, so the rules score what the searches found against them:
    Apple's soundtrack by the film's composer shows at once, another film's soundtrack, a
    single and a TV series are rejected, and what the recorded answers say too little about
    (they carry no contributors) waits for an operator."""
    no_pacing(monkeypatch)
    run("db", "upgrade")
    run("refresh", "--film", "imdb:tt0113627")
    html = widget("related-products")
    assert "Leaving Las Vegas (Original Motion Picture Soundtrack)" in html
    assert "Las Vegas: Season 1" not in html and "Fear and Loathing" not in html
    assert "5-Film Collection" not in html
    rejected = run("products", "list", "imdb:tt0113627", "--status", "rejected").output
    assert "Las Vegas: Season 1" in rejected and "Leaving Las Vegas - Single" in rejected

    listed = run("products", "list", "imdb:tt0113627", "--status", "candidate").output
    box_set = next(line for line in listed.splitlines() if "B0019X3YXQ" in line)
    assert run("products", "approve", box_set.split()[0]).exit_code == 0
    refreshed = run("refresh", "--film", "imdb:tt0113627", "--provider", "amazon")

    # The recorded getItems answer holds the box set, not every candidate: a partial answer.
    assert refreshed.exit_code == 0 and "Products: 1 seen" in refreshed.output, refreshed.output
    html = widget("related-products")
    assert "Nicolas Cage: 5-Film Collection" in html and "(as of " in html
    assert "As an Amazon Associate I earn from qualifying purchases." in html
    # the API's own detailPageURL, as recorded, never rewritten or redirected
    assert 'href="https://www.amazon.com/dp/B0019X3YXQ?tag=yoursite-20&amp;linkCode=ogi&amp;th=1&amp;psc=1"' in html


def test_platforms_sync_learns_logos_and_source_ids_from_tmdbs_directory(run):
    run("db", "upgrade")

    synced = run("platforms", "sync", "--region", "gb")

    assert synced.output == "tmdb: 5 platforms\n", synced.output
    listed = run("platforms", "list").output
    sky = next(line for line in listed.splitlines() if line.startswith("sky-store "))
    assert "Sky Store (logo) tmdb:130" in sky
    amazon = next(line for line in listed.splitlines() if line.startswith("amazon-prime-video "))
    assert "tmdb:10 tmdb:9" in amazon  # Amazon Video and Prime Video: one platform
    assert run("platforms", "sync", "--region", "XX").exit_code == 2


# --- Every fact true and credited, whatever config does while the web process runs ----------


def motn_leaving_in(days: int) -> bytes:
    """The recorded show with HBO Max via Prime leaving in `days` days (Movie of the Night
    stamps the last day as 03:59 UTC the next morning: 23:59 in New York) and Peacock's
    free option already gone (its end is in the past)."""
    show = recorded_json("streaming_availability/show_tt0113627_us.json")
    import datetime as dt

    last = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=days)
    stamp = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(3, 59), dt.timezone.utc)
    for option in show["streamingOptions"]["us"]:
        if option["type"] == "addon":
            option["expiresOn"] = int(stamp.timestamp())
        if option["service"]["id"] == "peacock":
            option["expiresOn"] = int(stamp.timestamp()) - 30 * 86400
    return json.dumps(show).encode(), last


# Any affiliate parameter but the operator's own: Apple's token of the itunes table, Amazon's tags.
THIRD_PARTY = re.compile(r"[?&](ct|PAffiliateID|PCamRefID|linkCode|ranMID|ranEAID|ranSiteID|epi|"
                         r"irgwc)=|[?&]at=(?!1000lABC)|[?&]tag=(?!filmsite-20|yoursite-20)",
                         re.IGNORECASE)
CREDITS = {"motn": "Streaming Availability API by Movie of the Night",
           "watchmode": "Streaming availability by Watchmode", "tmdb": "Streaming data from JustWatch"}


def test_every_shown_fact_is_true_and_credited_after_sources_are_added_renamed_and_removed(
        run, sources, tmp_path, monkeypatch):
    """One web process runs throughout; other processes refresh with the config as it is
    written at each step (a source added, renamed, removed)."""
    from affiliate import create_app
    from affiliate.config import load_settings

    no_pacing(monkeypatch)
    body, leaving = motn_leaving_in(10)
    sources.routes.insert(0, ("GET", "/shows/tt0113627", {}, Answer(200, body)))
    # TMDB's details of the film, with its credits and every region's providers.
    details = recorded_json("tmdb/details_451.json")
    details["watch/providers"] = recorded_json("tmdb/watch_providers_451.json")
    sources.routes.insert(0, ("GET", "/3/movie/451", {}, Answer(200, json.dumps(details))))
    config = (tmp_path / "config.toml").read_text()
    full = config.replace("[providers.tmdb]", "[http]\nrevision_check_seconds = 0\n\n[providers.tmdb]")
    without_tmdb = re.sub(r"\[providers\.tmdb\].*?(?=\n\[providers\.motn\])", "", full, flags=re.S)
    (tmp_path / "config.toml").write_text(without_tmdb)
    run("db", "upgrade")
    web = create_app(load_settings())
    web.extensions["affiliate"].watch.check_every = 0
    client = web.test_client()

    def shown() -> dict[str, str]:
        pages = {route: client.get(route) for route in (
            "/widgets/how-to-watch/imdb:tt0113627?region=US",
            "/widgets/how-to-watch/imdb:tt0113627/frame?region=US",
            "/api/v1/films/imdb:tt0113627/offers?region=US")}
        assert all(page.status_code == 200 for page in pages.values())
        return {route: page.text for route, page in pages.items()}

    def check(expected_credits: set[str]) -> None:
        pages = shown()
        api = json.loads(pages["/api/v1/films/imdb:tt0113627/offers?region=US"])
        free = [row["name"] for group in api["groups"] if group["kind"] == "free"
                for row in group["platforms"]]
        assert "Peacock" not in free  # its free option ended a month ago
        for route, text in pages.items():
            assert "free on Peacock" not in text, route
            assert "HBO Max via Prime Video" in text, route
            for name, credit in CREDITS.items():
                assert (credit in text) == (name in expected_credits), (route, name)
            links = re.findall(r'(?:href=|"link": ?)"([^"]+)"', text)
            assert links and not [link for link in links if THIRD_PARTY.search(link)], route
        html = pages["/widgets/how-to-watch/imdb:tt0113627?region=US"]
        assert f"Leaving {leaving:%b} {leaving.day}" in html  # New York's calendar day
        for href in set(re.findall(r'href="([^"]*/go/o\d+)"', html)):
            assert not THIRD_PARTY.search(client.get(href).location), href

    # Every source but TMDB, refreshed by another process.
    assert run("refresh", "--film", "imdb:tt0113627").exit_code == 0
    check({"motn", "watchmode"})

    # TMDB added to config.toml while the web process runs: another process refreshes it.
    (tmp_path / "config.toml").write_text(full)
    assert run("refresh", "--film", "tmdb:451", "--provider", "tmdb").exit_code == 0
    check({"motn", "watchmode", "tmdb"})

    # TMDB renamed, then Movie of the Night removed: their stored data keeps its credits.
    (tmp_path / "config.toml").write_text(full.replace("[providers.tmdb]", "[providers.justwatch]"))
    check({"motn", "watchmode", "tmdb"})
    (tmp_path / "config.toml").write_text(re.sub(
        r"\[providers\.motn\].*?(?=\n\[providers\.watchmode\])", "",
        full.replace("[providers.tmdb]", "[providers.justwatch]"), flags=re.S))
    check({"motn", "watchmode", "tmdb"})
    assert "motn" not in web.extensions["affiliate"].settings.providers  # it was re-read
    web.extensions["affiliate"].db.dispose()
