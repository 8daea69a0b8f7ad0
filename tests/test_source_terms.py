"""Credits follow the data: whatever config did since a source's data was stored (the source
added while the web process runs, renamed, removed, its type uninstalled), every widget and API
answer that shows that data carries the source's credits and keeps its price-age rule; and
config changes reach a running web process without a restart."""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
import responses

from affiliate import create_app
from affiliate.catalog import reconcile
from affiliate.config import load_settings
from affiliate.refresh import run_refresh
from affiliate.sources import SourceDirectory, note_source, uninstalled_sources
from affiliate.types import utcnow
from affiliate.widgets import related_products
from providers.base import FilmKey, ProductFormat, ProductLink, ProductRecord, ProviderResult, Relation
from providers.registry import PROVIDER_TYPES, build_provider
from tests.recorded import recorded

TMDB = "https://tmdb.terms.test"
JUSTWATCH = "Streaming data from JustWatch"
WIDGET = "/widgets/how-to-watch/tmdb:451?region=US"
TMDB_TABLE = f'type = "tmdb"\nbase_url = "{TMDB}"\napi_key = "tmdb-terms-key-0123"\n'


@pytest.fixture
def config(tmp_path, database_url):
    """config.toml in the working directory, written again by `config.write(extra)`."""
    class Config:
        path = tmp_path / "config.toml"

        def write(self, extra: str = "") -> None:
            self.path.write_text(f'[service]\ndatabase_url = "{database_url}"\n'
                                 '[http]\nrevision_check_seconds = 0\n'
                                 '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n' + extra)

    written = Config()
    written.write()
    return written


@pytest.fixture
def web(config):
    """A running web process of the standalone service on config.toml, with the demo
    catalog; it looks at its config file before every request."""
    app = create_app(load_settings())
    state = app.extensions["affiliate"]
    state.watch.check_every = 0
    from affiliate.catalog import prepare

    prepare(state.db)
    run_refresh(state.db, state.settings, "demo")
    yield app
    state.db.dispose()


def tmdb_refresh(name: str = "tmdb") -> None:
    """What `affiliate refresh --provider <name>` does in another process, on the config as
    it is now written."""
    settings = load_settings()
    app = create_app(settings)
    db = app.extensions["affiliate"].db
    with responses.RequestsMock() as api:
        api.get(f"{TMDB}/3/movie/451/watch/providers",
                body=recorded("tmdb/watch_providers_451.json"),
                content_type="application/json")
        (report,) = run_refresh(db, settings, name, "tmdb:451")
    assert report.status == "complete", report
    db.dispose()


def test_a_source_added_while_the_web_process_runs_is_credited_at_once(web, config):
    client = web.test_client()
    assert JUSTWATCH not in client.get(WIDGET).text

    config.write(f"[providers.tmdb]\n{TMDB_TABLE}")
    web.extensions["affiliate"].watch.check_every = 3600  # this process has not re-read it
    tmdb_refresh()

    html = client.get(WIDGET).text
    assert "MGM+" in html and JUSTWATCH in html
    api = client.get("/api/v1/films/tmdb:451/offers?region=US").get_json()
    assert JUSTWATCH in [credit["text"] for credit in api["attributions"]]


@pytest.mark.parametrize("later", [
    f"[providers.justwatch]\n{TMDB_TABLE}",  # renamed
    "",  # removed
], ids=["renamed", "removed"])
def test_a_source_renamed_or_removed_keeps_its_credits_on_its_data(web, config, later):
    config.write(f"[providers.tmdb]\n{TMDB_TABLE}")
    tmdb_refresh()
    config.write(later)

    client = web.test_client()
    html = client.get(WIDGET).text

    assert "tmdb" not in web.extensions["affiliate"].settings.providers  # re-read
    assert "MGM+" in html and JUSTWATCH in html


def test_a_source_whose_type_is_uninstalled_keeps_the_credits_stored_with_it(
        web, config, monkeypatch, caplog):
    config.write(f"[providers.tmdb]\n{TMDB_TABLE}")
    tmdb_refresh()
    monkeypatch.delitem(PROVIDER_TYPES, "tmdb")  # the adapter's package is gone

    caplog.set_level(logging.WARNING)
    app = create_app(load_settings())  # start-up with the table still in config.toml
    html = app.test_client().get(WIDGET).text

    assert "unknown provider type 'tmdb'" in caplog.text and "still shown" in caplog.text
    assert uninstalled_sources(app.extensions["affiliate"].db, load_settings()) == [
        "tmdb (type 'tmdb')"]
    assert "MGM+" in html and JUSTWATCH in html and "not endorsed or certified by TMDB" in html
    app.extensions["affiliate"].db.dispose()


def test_an_amazon_price_older_than_a_day_stays_hidden_when_amazon_is_no_longer_configured(
        demo, settings, monkeypatch):
    db = demo
    amazon = build_provider("amazon", {
        "type": "amazon", "credential_id": "id-0123456789", "credential_secret": "secret-0123456789",
        "credential_version": "3.1", "partner_tag": "site-20"})
    note_source(db, amazon)  # as every run does before storing
    film = FilmKey(tmdb_id=451)
    reconcile(db, "amazon", ProviderResult(products=[ProductRecord(
        "Amazon", "B0TESTAMZ1", "Leaving Las Vegas [Blu-ray] (test)", ProductFormat.BLU_RAY,
        "https://www.amazon.com/dp/B0TESTAMZ1?tag=site-20", "US",
        films=(ProductLink(film, Relation.EDITION),), price=Decimal("12.99"), currency="USD")]), 3,
        now=utcnow() - dt.timedelta(hours=30))
    assert "amazon" not in settings.providers
    monkeypatch.delitem(PROVIDER_TYPES, "amazon")

    view = related_products(db, "tmdb:451", "US", "en_US", settings,
                            sources=SourceDirectory(db, settings))

    (card,) = [card for card in view.cards if card.title == "Leaving Las Vegas [Blu-ray] (test)"]
    assert card.price is None  # older than the 24 hours its stored terms allow
    assert "As an Amazon Associate I earn from qualifying purchases." in view.disclosures


def apple_link(client) -> str:
    answer = client.get("/api/v1/films/tmdb:451/offers?region=US").get_json()
    return next(row["link"] for group in answer["groups"] for row in group["platforms"]
                if row["name"] == "Apple TV")


def test_config_changes_reach_the_web_process_and_a_bad_file_changes_nothing(web, config, caplog):
    client = web.test_client()
    config.write('[[link_tags]]\nhost = "apple.com"\nparams = { at = "first-token" }\n')
    assert apple_link(client).endswith("at=first-token")

    caplog.set_level(logging.ERROR)
    config.path.write_text(config.path.read_text() + "[widgets]\nnew_days = -1\n")

    assert apple_link(client).endswith("at=first-token")  # the running config stays
    assert "config not reloaded, the running config stays" in caplog.text
    assert "widgets.new_days" in caplog.text


def test_sighup_rereads_the_file_whatever_its_time_stamp(web, config):
    state = web.extensions["affiliate"]
    state.watch.check_every = 3600
    client = web.test_client()
    client.get(WIDGET)
    config.write('[[link_tags]]\nhost = "apple.com"\nparams = { at = "after-hup" }\n')
    assert "after-hup" not in apple_link(client)  # not looked at for an hour

    state.watch.ask()  # what the SIGHUP handler does

    assert apple_link(client).endswith("at=after-hup")
