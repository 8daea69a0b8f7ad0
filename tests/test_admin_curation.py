"""Product curation (affiliate.curation) and its console forms: link a product by ASIN, GTIN
or URL, reorder, pin, hide, approve and reject; each change shows in the widget and raises
the film's revision, and a source's next refresh does not undo it."""
from __future__ import annotations

import pytest
from sqlmodel import select

from affiliate import curation, widgets
from affiliate.curation import ProductRef
from affiliate.models import Film, FilmProduct, Product
from affiliate.refresh import run_refresh
from tests.admin_support import admin_app, fast_password_hashing, log_in, post

FILM = "imdb:tt0113627"
VALID_GTIN = "4006381333931"  # an EAN-13 with a right check digit


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


def cards(db, settings, region="US") -> list[str]:
    return [card.title for card in widgets.related_products(db, FILM, region, "en_US", settings).cards]


def revision(db) -> int:
    with db.session() as session:
        return session.exec(select(Film).where(Film.imdb_id == "tt0113627")).one().revision


def link_id(db, title: str) -> int:
    return next(row.id for row in curation.film_links(db, FILM) if row.title == title)


def test_an_asin_links_amazons_product_shown_at_once(demo, settings):
    before = revision(demo)

    rows = curation.link_product(demo, FILM, ProductRef(asin=" b000fqjaia ", format="dvd"), "US")

    assert [(r.merchant, r.merchant_id, r.status, r.origin, r.source) for r in rows] == [
        ("Amazon", "B000FQJAIA", "approved", "curated", "operator")]
    assert rows[0].link == "https://www.amazon.com/dp/B000FQJAIA" and rows[0].title == "B000FQJAIA"
    assert "B000FQJAIA" in cards(demo, settings)
    assert revision(demo) == before + 1


def test_an_amazon_product_url_is_read_as_its_asin_and_marketplace(demo):
    rows = curation.link_product(
        demo, FILM, ProductRef(url="https://www.amazon.co.uk/Leaving-Las-Vegas/dp/B00004RF9B/ref=sr_1_1"),
        "GB")

    assert (rows[0].merchant, rows[0].merchant_id, rows[0].region) == ("Amazon", "B00004RF9B", "GB")
    assert rows[0].link == "https://www.amazon.co.uk/dp/B00004RF9B"


def test_a_gtin_links_every_stored_product_with_it(demo, settings):
    with demo.session() as session:
        bookshop = session.exec(select(Product).where(Product.merchant == "Bookshop.org")).one()
        bookshop.gtin = VALID_GTIN
        session.add(bookshop)
        other = Film(title="Another film")
        session.add(other)
        session.flush()
        other_id = other.id

    rows = curation.link_product(demo, str(other_id), ProductRef(gtin="400-6381-33393-1"), "US",
                                 "source-novel")

    assert [row.title for row in rows] == [bookshop.title]
    assert rows[0].relation == "source-novel"


@pytest.mark.parametrize("ref, error, message", [
    (ProductRef(gtin="4006381333932"), ValueError, "check digit is wrong"),
    (ProductRef(gtin="12345"), ValueError, "is not a GTIN"),
    (ProductRef(gtin=VALID_GTIN), LookupError, "no stored product in US has GTIN 4006381333931"),
    (ProductRef(asin="B00"), ValueError, "is not an ASIN"),
    (ProductRef(url="javascript:alert(1)"), ValueError, "is not an http(s) URL"),
    (ProductRef(url="https://shop.example/item/1"), ValueError, "give its title and format"),
    (ProductRef(asin="B000FQJAIA", gtin=VALID_GTIN), ValueError, "exactly one of asin, gtin or url"),
    (ProductRef(), ValueError, "exactly one of asin, gtin or url"),
    (ProductRef(asin="B000FQJAIA", format="laserdisc"), ValueError, "format: 'laserdisc' is not one of"),
])
def test_bad_product_references_say_why_and_store_nothing(demo, ref, error, message):
    with demo.session() as session:
        products = len(session.exec(select(Product)).all())
    before = revision(demo)

    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        curation.link_product(demo, FILM, ref, "US")

    with demo.session() as session:
        assert len(session.exec(select(Product)).all()) == products
    assert revision(demo) == before


def test_a_shop_url_becomes_a_product_of_that_shop_once(demo, settings):
    ref = ProductRef(url="https://www.shop.example/posters/leaving-las-vegas", title="Poster",
                     format="merchandise")

    first = curation.link_product(demo, FILM, ref, "US", "merchandise")
    again = curation.link_product(demo, FILM, ref, "US", "merchandise")

    assert first[0].merchant == "shop.example" and first[0].id == again[0].id
    assert "Poster" in cards(demo, settings)


def test_linking_a_rejected_candidate_approves_it(demo, settings):
    asin_row = curation.link_product(demo, FILM, ProductRef(asin="B000FQJAIA"), "US")[0]
    curation.set_status(demo, [asin_row.id], "rejected")
    assert "B000FQJAIA" not in cards(demo, settings)

    again = curation.link_product(demo, FILM, ProductRef(asin="B000FQJAIA"), "US")

    assert again[0].id == asin_row.id and again[0].status == "approved"
    assert "B000FQJAIA" in cards(demo, settings)


def test_an_unknown_film_is_a_lookup_error(demo):
    with pytest.raises(LookupError, match="no film matches tmdb:999"):
        curation.link_product(demo, "tmdb:999", ProductRef(asin="B000FQJAIA"), "US")


def test_reordering_pins_the_links_and_a_curated_feed_does_not_undo_it(demo, settings):
    shown = cards(demo, settings)
    wanted = [shown[3], shown[0]]
    before = revision(demo)

    curation.reorder(demo, FILM, [link_id(demo, title) for title in wanted])

    assert cards(demo, settings)[:2] == wanted
    assert revision(demo) == before + 1
    assert [r.status for r in run_refresh(demo, settings, "demo")] == ["complete"]
    assert cards(demo, settings)[:2] == wanted


def test_a_reorder_naming_another_films_link_or_one_twice_changes_nothing(demo, settings):
    shown = cards(demo, settings)
    with demo.session() as session:
        other = Film(title="Another film")
        session.add(other)
        session.flush()
        foreign = FilmProduct(film_id=other.id, product_id=1, relation="edition", source="demo")
        session.add(foreign)
        session.flush()
        foreign_id = foreign.id
    first = link_id(demo, shown[1])

    with pytest.raises(LookupError, match=f"product link {foreign_id} does not belong to film"):
        curation.reorder(demo, FILM, [first, foreign_id])
    with pytest.raises(ValueError, match="only once"):
        curation.reorder(demo, FILM, [first, first])
    with pytest.raises(LookupError, match="no product link with id 9999"):
        curation.reorder(demo, FILM, [first, 9999])

    assert cards(demo, settings) == shown


def test_moving_a_link_up_and_down(demo, settings):
    shown = cards(demo, settings)

    curation.move(demo, FILM, link_id(demo, shown[2]), -1)
    assert cards(demo, settings) == [shown[0], shown[2], shown[1], *shown[3:]]

    curation.move(demo, FILM, link_id(demo, shown[0]), +1)
    assert cards(demo, settings) == [shown[2], shown[0], shown[1], *shown[3:]]

    curation.move(demo, FILM, link_id(demo, shown[2]), -1)  # the first stays first
    assert cards(demo, settings) == [shown[2], shown[0], shown[1], *shown[3:]]


def test_pinning_puts_a_link_first_and_unpinning_returns_it(demo, settings):
    shown = cards(demo, settings)
    last = link_id(demo, shown[-1])

    curation.set_pinned(demo, [last], True)
    assert cards(demo, settings)[0] == shown[-1]

    curation.set_pinned(demo, [last], False)
    assert cards(demo, settings) == shown


def test_hiding_keeps_the_link_and_showing_brings_it_back(demo, settings):
    shown = cards(demo, settings)
    before = revision(demo)

    curation.set_hidden(demo, [link_id(demo, shown[0])], True)
    assert cards(demo, settings) == shown[1:]
    assert any(row.hidden for row in curation.film_links(demo, FILM))
    assert [r.status for r in run_refresh(demo, settings, "demo")] == ["complete"]
    assert cards(demo, settings) == shown[1:]

    curation.set_hidden(demo, [link_id(demo, shown[0])], False)
    assert cards(demo, settings) == shown
    assert revision(demo) >= before + 2


def test_approving_and_rejecting_raise_the_revision(demo):
    row = curation.film_links(demo, FILM)[0]
    before = revision(demo)

    curation.set_status(demo, [row.id], "rejected")
    curation.set_status(demo, [row.id], "approved")

    assert revision(demo) == before + 2


# --- the console's forms --------------------------------------------------------------------

@pytest.fixture
def console(make_settings):
    app = admin_app(make_settings)
    db = app.extensions["affiliate"].db
    settings = app.extensions["affiliate"].settings
    run_refresh(db, settings, "demo")
    client = app.test_client()
    log_in(client, db)
    yield client, db, settings
    db.dispose()


def test_the_console_links_a_product_by_asin(console):
    client, db, settings = console

    response = post(client, f"/admin/films/{FILM}/products",
                    {"by": "asin", "value": "B000FQJAIA", "region": "us", "relation": "edition",
                     "format": "4k-uhd", "title": "Leaving Las Vegas 4K"}, page=f"/admin/films/{FILM}")

    assert response.status_code == 303
    assert "Linked Leaving Las Vegas 4K (Amazon)." in client.get(f"/admin/films/{FILM}").get_data(as_text=True)
    assert "Leaving Las Vegas 4K" in cards(db, settings)


@pytest.mark.parametrize("form, status, reason", [
    ({"by": "isbn", "value": "123"}, 400, "choose ASIN, GTIN or URL"),
    ({"by": "asin", "value": ""}, 400, "choose ASIN, GTIN or URL"),
    ({"by": "asin", "value": "B000FQJAIA", "region": "Narnia"}, 400, "is not an ISO 3166-1"),
    ({"by": "gtin", "value": VALID_GTIN}, 404, "no stored product in US has GTIN"),
    ({"by": "asin", "value": "B000FQJAIA", "relation": "sequel"}, 400, "relation: &#39;sequel&#39;"),
])
def test_a_bad_link_form_is_answered_with_the_reason(console, form, status, reason):
    client, db, settings = console
    shown = cards(db, settings)

    response = post(client, f"/admin/films/{FILM}/products", form, page=f"/admin/films/{FILM}")

    assert response.status_code == status
    assert reason in response.get_data(as_text=True)
    assert cards(db, settings) == shown


def test_the_console_moves_pins_hides_and_reviews_links(console):
    client, db, settings = console
    shown = cards(db, settings)
    page = f"/admin/films/{FILM}"

    def act(title: str, action: str):
        response = post(client, f"/admin/films/{FILM}/products/{link_id(db, title)}",
                        {"action": action}, page=page)
        assert response.status_code == 303, response.get_data(as_text=True)

    act(shown[1], "up")
    assert cards(db, settings)[:2] == [shown[1], shown[0]]
    act(shown[-1], "pin")  # after the two pinned by the move
    assert cards(db, settings)[:3] == [shown[1], shown[0], shown[-1]]
    act(shown[-1], "unpin")
    act(shown[0], "hide")
    assert shown[0] not in cards(db, settings)
    act(shown[0], "show")
    act(shown[0], "reject")
    assert shown[0] not in cards(db, settings)
    html = client.get(page).get_data(as_text=True)
    rejected = html.split('id="rejected"')[1]
    assert shown[0] in rejected
    act(shown[0], "approve")
    assert shown[0] in cards(db, settings)


def test_an_unknown_action_or_another_films_link_changes_nothing(console):
    client, db, settings = console
    shown = cards(db, settings)
    first = link_id(db, shown[0])

    bad = post(client, f"/admin/films/{FILM}/products/{first}", {"action": "delete"})
    foreign = post(client, f"/admin/films/imdb:tt0037884/products/{first}", {"action": "hide"})

    assert bad.status_code == 400 and "unknown action &#39;delete&#39;" in bad.get_data(as_text=True)
    assert foreign.status_code == 404
    assert cards(db, settings) == shown
