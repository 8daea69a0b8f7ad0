"""The demo catalog plus the labelled set (tests/matching/), through the real adapters and the
service: every film is refreshed from Amazon (title, soundtrack, book and cast box-set
searches) and Apple (soundtrack albums) answering the labelled raw search answers; then each
film's Related Products shows what an operator would approve, with nothing from a namesake,
remake or other work, and box sets show with every catalog film they contain."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlmodel import select

from affiliate.models import Film, FilmProduct, Product
from affiliate.refresh import run_refresh
from affiliate.widgets import related_products
from providers.base import FilmKey, FilmRecord, ProviderResult
from providers.pacing import Pacer
from tests.matching.labelled import film_facts

HERE = Path(__file__).parent / "matching"
AMAZON = "https://creators.labelled.test"
APPLE = "https://itunes.labelled.test"
TOKEN = (Path(__file__).parent / "recordings" / "amazon" / "token_lwa.json").read_text()
JSON = {"Content-Type": "application/json"}
DEMO_IMDB = {("Leaving Las Vegas", 1995): "tt0113627"}


def labelled_films() -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((HERE / "films").glob("*.json"))]


def film_key(raw: dict, index: int) -> FilmKey:
    imdb = DEMO_IMDB.get((raw["title"], raw["year"]), f"tt9{index:07d}")
    return FilmKey(imdb_id=imdb)


class Answers:
    """The labelled raw answers, found again by the request an adapter sends."""

    def __init__(self, films: list[dict]):
        self.amazon: dict[tuple, dict] = {}
        self.apple: dict[str, dict] = {}
        cast = json.loads((HERE / "cast_collections.json").read_text(encoding="utf-8"))["searches"]
        for search in [s for film in films for s in film["searches"]] + cast:
            request = search["request"]
            if search.get("source", "amazon") == "amazon":
                self.amazon[self.amazon_key(request)] = search["answer"]
            else:
                self.apple[request["term"]] = search["answer"]
        self.labels: dict[tuple[str, str], str] = {}
        for index, film in enumerate(films):
            for search in film["searches"]:
                for product_id, label in search["labels"].items():
                    self.labels[(str(film_key(film["film"], index)), product_id)] = label
        self.contains = {product_id: set(keys) for search in cast
                         for product_id, keys in search["contains"].items()}

    @staticmethod
    def amazon_key(body: dict) -> tuple:
        return (body["searchIndex"], body.get("title"), body.get("keywords"), body.get("actor"))

    def get_items(self, request):
        """Products an earlier film's searches linked: their items as the searches gave them."""
        items = {item["asin"]: item for answer in self.amazon.values()
                 for item in answer["searchResult"]["items"]}
        asked = json.loads(request.body)["itemIds"]
        return 200, JSON, json.dumps({"itemsResult": {"items": [items[a] for a in asked if a in items]}})

    def search_items(self, request):
        answer = self.amazon.get(self.amazon_key(json.loads(request.body)))
        if answer is None:  # Amazon's answer to a search that finds nothing
            return 404, JSON, json.dumps({"type": "ResourceNotFoundException",
                                          "message": "No results found for your request."})
        return 200, JSON, json.dumps(answer)

    def itunes_search(self, request):
        query = parse_qs(urlsplit(request.url).query)
        if query.get("media") == ["movie"]:  # no film offers in this set: only albums
            return 200, {"Content-Type": "text/javascript; charset=utf-8"}, '{"resultCount": 0, "results": []}'
        answer = self.apple.get(query["term"][0], {"resultCount": 0, "results": []})
        return 200, {"Content-Type": "text/javascript; charset=utf-8"}, json.dumps(answer)


@pytest.fixture
def refreshed(demo, make_settings, monkeypatch):
    """The demo catalog and every labelled film, with its credits, refreshed from both."""
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    monkeypatch.setattr("affiliate.limits.ProviderLimiter.acquire", lambda self: None)
    settings = make_settings(providers={
        "amazon": {"type": "amazon", "base_url": AMAZON, "token_url": f"{AMAZON}/auth/o2/token",
                   "credential_id": "labelled-id-0123", "credential_secret": "labelled-secret-0123",
                   "credential_version": "3.1", "partner_tag": "yoursite-20", "discover": True},
        "apple": {"type": "itunes", "base_url": APPLE, "soundtracks": True}})
    films = labelled_films()
    records = []
    for index, data in enumerate(films):
        facts = film_facts(data["film"])
        records.append(FilmRecord(film_key(data["film"], index), facts.title, facts.year,
                                  imdb_id=film_key(data["film"], index).imdb_id,
                                  original_title=facts.original_title, people=facts.people))
    from affiliate.catalog import reconcile

    reconcile(demo, "tmdb", ProviderResult(films=records), 3)
    answers = Answers(films)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add(responses.POST, f"{AMAZON}/auth/o2/token", body=TOKEN, content_type="application/json")
        api.add_callback(responses.POST, f"{AMAZON}/catalog/v1/searchItems", answers.search_items)
        api.add_callback(responses.POST, f"{AMAZON}/catalog/v1/getItems", answers.get_items)
        api.add_callback(responses.GET, f"{APPLE}/search", answers.itunes_search)
        for record in records:
            for name in ("amazon", "apple"):
                (report,) = run_refresh(demo, settings, name, str(record.key))
                assert report.status in ("complete", "partial"), report
    return demo, settings, answers, records


def shown(db, settings, ref: str) -> list[tuple[str, str]]:
    """(product id, relation) of every card a source's search found that the film's Related
    Products shows in the US (the demo feed's own products aside)."""
    view = related_products(db, ref, "US", "en_US", settings)
    with db.session() as session:
        products = {f"p{product.id}": product for product in session.exec(select(Product))}
    return [(products[card.go_target].merchant_id, card.relation) for card in view.cards
            if products[card.go_target].source in ("amazon", "apple")]


def test_each_film_shows_only_what_an_operator_would_approve(refreshed):
    db, settings, answers, records = refreshed
    wrong, shown_count, approvable = [], 0, 0
    for record in records:
        ref = str(record.key)
        for product_id, relation in shown(db, settings, ref):
            label = answers.labels.get((ref, product_id))
            if label is None:  # a box set found through an actor: it must contain the film
                contains = answers.contains.get(product_id, set())
                if not any(ref == str(r.key) for r in records if _slug(r) in contains):
                    wrong.append((ref, product_id, "box set without the film"))
                continue
            shown_count += 1
            if not label.startswith("approve:"):
                wrong.append((ref, product_id, label))
        approvable += sum(1 for (film, _), label in answers.labels.items()
                          if film == ref and label.startswith("approve:"))
    assert wrong == [], "\n".join(map(str, wrong))
    # What the rules approve unasked is most of what an operator would (bench/RESULTS.md);
    # the rest waits for review.
    assert shown_count / approvable >= 0.8, (shown_count, approvable)


def _slug(record: FilmRecord) -> str:
    return f"{record.title.lower().replace(' ', '-')}-{record.year}"


def test_the_demo_film_shows_its_editions_soundtrack_and_the_box_set_that_contains_it(refreshed):
    db, settings, _, _ = refreshed
    relations = {relation for _, relation in shown(db, settings, "imdb:tt0113627")}
    assert {"edition", "soundtrack", "collection"} <= relations


def test_no_namesake_or_remake_is_linked_unasked(refreshed):
    db, _, answers, records = refreshed
    by_ref = {str(record.key): record for record in records}
    with db.session() as session:
        links = session.exec(select(FilmProduct, Product, Film)
                             .join(Product, Product.id == FilmProduct.product_id)
                             .join(Film, Film.id == FilmProduct.film_id)
                             .where(FilmProduct.status == "approved",
                                    FilmProduct.decided_by == "rules")).all()
    approved = [(f"imdb:{film.imdb_id}", product.merchant_id) for _, product, film in links]
    assert approved
    for ref, product_id in approved:
        label = answers.labels.get((ref, product_id), "")
        assert not label.startswith(("reject:namesake", "reject:remake")), (by_ref[ref].title, product_id)
