"""Drops are told at once: a complete answer that leaves out more than
`catalog.max_hidden_share` of a source's visible offers or products is reported on its first
run (refresh output and exit code, status, the console), not only when the third such answer
is quarantined; a run in chunks is judged whole."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate.__main__ import main
from affiliate.catalog import reconcile
from affiliate.health import provider_health
from affiliate.models import Film, Offer, Product, ProviderState
from affiliate.refresh import RefreshEngine, run_refresh
from providers.base import (
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProductFormat,
    ProductLink,
    ProductRecord,
    Provider,
    ProviderResult,
    ProviderSettings,
    Quality,
    Relation,
)
from providers.registry import PROVIDER_TYPES

LLV = FilmKey(imdb_id="tt0113627")
FILM = FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627")
PLATFORMS = [PlatformRecord(f"platform-{n}", f"Platform {n}") for n in range(10)]
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def offer(platform, film=LLV):
    return OfferRecord(film, platform, "US", OfferKind.RENT, Quality.HD,
                       f"https://example.com/{platform.slug}", Decimal("3.99"), "USD")


def answer(*offers):
    return ProviderResult(films=[FILM], offers=list(offers), covered={LLV}, complete=True)


def test_half_the_offers_left_out_is_said_on_the_first_answer_and_applied(db):
    reconcile(db, "src", answer(*(offer(p) for p in PLATFORMS)), 3, 0.2, now=T0)

    stats = reconcile(db, "src", answer(*(offer(p) for p in PLATFORMS[:5])), 3, 0.2,
                      now=T0 + dt.timedelta(days=1))

    assert stats.quarantined is None
    assert stats.drop_warning.startswith("the answer leaves out 5 of 10 visible offers (50%")
    with db.session() as session:
        missing = sorted(o.missing_count for o in session.exec(select(Offer)))
        assert missing == [0] * 5 + [1] * 5
        assert not any(o.hidden for o in session.exec(select(Offer)))  # nothing hidden yet


def test_a_drop_under_the_share_is_no_warning(db):
    reconcile(db, "src", answer(*(offer(p) for p in PLATFORMS)), 3, 0.2, now=T0)
    stats = reconcile(db, "src", answer(*(offer(p) for p in PLATFORMS[:8])), 3, 0.2, now=T0)
    assert stats.drop_warning is None and stats.offers_missing == 2


def test_everything_gone_warns_twice_then_is_quarantined(db):
    reconcile(db, "src", answer(*(offer(p) for p in PLATFORMS)), 3, 0.2, now=T0)

    first, second, third = (reconcile(db, "src", answer(), 3, 0.2, now=T0 + dt.timedelta(days=n))
                            for n in (1, 2, 3))

    assert first.drop_warning and second.drop_warning and not first.quarantined
    assert third.quarantined.startswith("the answer would hide 10 of 10 visible offers")
    with db.session() as session:
        assert not any(o.hidden for o in session.exec(select(Offer)))


def amazon_answer(*asins):
    return ProviderResult(products=[
        ProductRecord("Amazon", asin, f"Product {asin}", ProductFormat.BLU_RAY,
                      f"https://www.amazon.com/dp/{asin}", "US",
                      films=(ProductLink(LLV, Relation.EDITION),)) for asin in asins],
        covered={LLV}, complete=True)


def test_products_a_source_answers_as_gone_are_quarantined_by_the_same_rule(db):
    with db.session() as session:
        session.add(Film(title="Leaving Las Vegas", year=1995, imdb_id="tt0113627"))
    asins = [f"B00000000{n}" for n in range(5)]
    reconcile(db, "amazon", amazon_answer(*asins), 3, 0.2, now=T0)

    runs = [reconcile(db, "amazon", amazon_answer(), 3, 0.2, now=T0 + dt.timedelta(days=n))
            for n in (1, 2, 3)]

    assert runs[0].drop_warning.startswith("the answer leaves out 5 of 5 visible products")
    assert runs[2].quarantined.startswith("the answer would hide 5 of 5 visible products")
    with db.session() as session:
        assert not any(p.hidden for p in session.exec(select(Product)))


# --- through refresh: the CLI, status, chunks -----------------------------------------------


SHOWN: dict[str, int] = {}


class ShrinkingSource(Provider):
    """An API source that lists the first SHOWN["platforms"] platforms for every film asked."""

    type_name = "shrinking"
    description = "test source"
    requests_per_second = 0.1  # chunks of three films
    batch_size = 1

    class Settings(ProviderSettings):
        base_url: str = "http://127.0.0.1:9"

    def fetch(self, films):
        films = list(films)
        return ProviderResult(
            offers=[offer(p, f.key) for f in films for p in PLATFORMS[:SHOWN["platforms"]]],
            covered={f.key for f in films}, complete=True)


@pytest.fixture
def shrinking(monkeypatch, make_settings, db):
    monkeypatch.setitem(PROVIDER_TYPES, "shrinking", ShrinkingSource)
    SHOWN["platforms"] = 4
    with db.session() as session:
        for n in range(9):
            session.add(Film(title=f"Film {n}", imdb_id=f"tt{n:07d}"))
    return make_settings(providers={"api": {"type": "shrinking"}},
                         service={"demo_catalog": False})


def refs(db):
    with db.session() as session:
        return [f"imdb:{film.imdb_id}" for film in session.exec(select(Film))]


def test_a_run_in_chunks_is_judged_whole_and_told_by_status(db, shrinking):
    engine = RefreshEngine(db, shrinking)
    try:
        first = engine.run("api")[0]
        assert first.films == 9 and first.warning is None  # three chunks, 36 offers
        for ref in refs(db):  # every film is due again
            engine.run("api", ref)
        SHOWN["platforms"] = 2
        from affiliate.due import make_due
        from affiliate.types import utcnow
        make_due(db, "api", utcnow())
        report = engine.run("api")[0]
        health = provider_health(db, shrinking, engine)
    finally:
        engine.close()

    # Each chunk alone leaves out 6 of 36 (17 %); the run leaves out 18 (50 %).
    assert report.warning.startswith("the answer leaves out 18 of 36 visible offers (50%")
    (api,) = health
    assert any(note.startswith("warning: the answer leaves out 18 of 36") for note in api.notes)
    with db.session() as session:
        assert session.get(ProviderState, "api").drop_warning == report.warning


def test_the_refresh_command_prints_the_warning_exits_1_and_a_good_answer_clears_it(
        db, shrinking, monkeypatch, tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{shrinking.service.database_url}"\ndemo_catalog = false\n'
        '[providers.api]\ntype = "shrinking"\n')
    runner = CliRunner()
    film = refs(db)[0]
    assert runner.invoke(main, ["refresh", "--film", film]).exit_code == 0

    SHOWN["platforms"] = 1
    dropped = runner.invoke(main, ["refresh", "--film", film])
    status = runner.invoke(main, ["status"])
    SHOWN["platforms"] = 4
    restored = runner.invoke(main, ["refresh", "--film", film])

    assert dropped.exit_code == 1
    assert "WARNING: the answer leaves out 3 of 4 visible offers (75%" in dropped.output
    assert "warning: the answer leaves out 3 of 4" in status.output
    assert restored.exit_code == 0 and "WARNING" not in restored.output
    with db.session() as session:
        assert session.get(ProviderState, "api").drop_warning is None


def test_run_refresh_reports_the_warning(db, shrinking):
    film = refs(db)[0]
    run_refresh(db, shrinking, "api", film)
    SHOWN["platforms"] = 0
    (report,) = run_refresh(db, shrinking, "api", film)
    assert report.status == "complete" and report.warning.startswith("the answer leaves out 4 of 4")
