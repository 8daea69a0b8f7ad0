"""An uncached widget request costs at most three SQL queries however many offers or products
a film has (no query per platform, offer or card), the view count included. Not timed: the
throughput itself is measured by bench/widget_bench.py."""
from __future__ import annotations

from decimal import Decimal

import pytest

from affiliate.catalog import reconcile
from providers.base import (
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

FILM = FilmRecord(key=FilmKey(tmdb_id=9001), title="Many Offers", year=2020, tmdb_id=9001)
KINDS = (OfferKind.RENT, OfferKind.BUY)
QUALITIES = (Quality.SD, Quality.HD, Quality.UHD)
PER_PLATFORM = len(KINDS) * len(QUALITIES)


def catalog(count: int) -> ProviderResult:
    """`count` offers (six per platform: rent and buy in SD, HD and 4K) and `count` products."""
    offers = []
    for index in range(count):
        number, rest = divmod(index, PER_PLATFORM)
        kind, quality = KINDS[rest // len(QUALITIES)], QUALITIES[rest % len(QUALITIES)]
        platform = PlatformRecord(f"platform-{number}", f"Platform {number}")
        offers.append(OfferRecord(
            film=FILM.key, platform=platform, region="US", kind=kind, quality=quality,
            link=f"https://platform-{number}.example/watch/9001",
            price=Decimal("1.99") + index, currency="USD"))
    products = [ProductRecord(
        merchant="Shop", merchant_id=f"item-{index}", title=f"Item {index}",
        format=ProductFormat.DVD, link=f"https://shop.example/item-{index}", region="US",
        price=Decimal("9.99"), currency="USD",
        films=(ProductLink(FILM.key, Relation.EDITION, index),)) for index in range(count)]
    return ProviderResult(films=[FILM], offers=offers, products=products)


@pytest.fixture
def settings(make_settings):
    """No fragment cache: every request renders."""
    return make_settings(http={"fragment_cache_size": 0})


@pytest.mark.parametrize("widget", ["how-to-watch", "related-products"])
def test_an_uncached_render_needs_at_most_three_queries(db, client, statements, widget):
    reconcile(db, "test", catalog(500), hide_after_misses=3)
    statements.clear()

    response = client.get(f"/widgets/{widget}/tmdb:9001?region=US")

    assert response.status_code == 200
    last = ">Platform 83<" if widget == "how-to-watch" else ">Item 499<"
    assert last in response.get_data(as_text=True)
    assert 1 <= len(statements) <= 3, "\n".join(statements)


def test_widget_reads_run_outside_a_transaction_on_postgresql_only(db):
    """A render's single SELECT needs no BEGIN/ROLLBACK round trips around it on PostgreSQL;
    the pooled connection goes back transactional for everything that writes."""
    if db.engine.dialect.name != "postgresql":
        assert db.reader is db.engine  # SQLite begins no transaction for a read anyway
        return
    with db.reader.connect() as connection:
        assert connection.connection.dbapi_connection.autocommit
    with db.engine.connect() as connection:
        assert not connection.connection.dbapi_connection.autocommit
