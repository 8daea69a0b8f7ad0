"""The Amazon Creators API adapter against recorded answers (no network), and once through the
stand-in server over a real socket."""
from __future__ import annotations

import base64
import dataclasses
import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import ValidationError
from sqlmodel import select

from affiliate.catalog import reconcile
from affiliate.models import Film, Product
from providers.amazon import AmazonProvider, client
from providers.base import (
    AuthFailed,
    Availability,
    BadResponse,
    FilmKey,
    FilmQuery,
    Person,
    ProductFormat,
    ProductRef,
    ProviderError,
    RateLimited,
    Relation,
    Transient,
)
from providers.pacing import Pacer
from tests.recorded import recorded, recorded_json
from tests.standin import Answer

API = "https://creatorsapi.amazon/catalog/v1"
GET_ITEMS = f"{API}/getItems"
SEARCH_ITEMS = f"{API}/searchItems"
COGNITO_NA = "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token"
LWA_NA = "https://api.amazon.com/auth/o2/token"
CREDENTIAL_ID = "4kq3v8example0credential"
SECRET = "s3cr3t-CREDENTIAL-value-9f8e7d"
COGNITO_TOKEN = recorded_json("amazon/token_cognito.json")["access_token"]
SECRETS = (SECRET, CREDENTIAL_ID, COGNITO_TOKEN)

LLV = FilmKey(imdb_id="tt0113627")
SID = FilmKey(tmdb_id=14924)
BLU_RAY, NOVEL, BOX_SET, SOUNDTRACK, DVD = (
    "B00C6FBZ8S", "0802135331", "B0019X3YXQ", "B000002OUW", "B00004Z4WK")


def provider(throttle=None, **settings) -> AmazonProvider:
    values = {"type": "amazon", "credential_id": CREDENTIAL_ID, "credential_secret": SECRET,
              "credential_version": "2.1", "partner_tag": "yoursite-20", "discover": False,
              **settings}
    return AmazonProvider("amazon", AmazonProvider.Settings(**values), throttle=throttle)


def refs(*asins: str, merchant: str = "Amazon", region: str = "US") -> tuple[ProductRef, ...]:
    return tuple(ProductRef(merchant, asin, region) for asin in asins)


def llv(*asins: str) -> FilmQuery:
    return FilmQuery(key=LLV, title="Leaving Las Vegas", year=1995, imdb_id="tt0113627",
                     tmdb_id=451, products=refs(*asins))


def sid(*asins: str) -> FilmQuery:
    return FilmQuery(key=SID, title="Sid and Nancy", year=1986, tmdb_id=14924,
                     products=refs(*asins))


def token(url: str = COGNITO_NA, name: str = "token_cognito.json"):
    return responses.post(url, json=recorded_json(f"amazon/{name}"))


def get_items(name: str = "get_items.json", status: int = 200, **kwargs):
    return responses.post(GET_ITEMS, json=recorded_json(f"amazon/{name}"), status=status, **kwargs)


def requested(call) -> dict:
    return json.loads(call.request.body)


def no_secrets(error: Exception) -> None:
    assert not any(secret in str(error) for secret in SECRETS)


@pytest.fixture(autouse=True)
def pauses(monkeypatch):
    """The pacer's sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(Pacer, "sleep", staticmethod(slept.append))
    return slept


# --- getItems ---------------------------------------------------------------------------


@responses.activate
def test_items_become_products_of_their_films():
    token()
    get_items()
    result = provider().fetch([llv(BLU_RAY, NOVEL, BOX_SET, SOUNDTRACK, DVD)])

    assert result.problems == [] and result.complete and result.covered == {LLV}
    products = {product.merchant_id: product for product in result.products}
    assert list(products) == [BLU_RAY, NOVEL, BOX_SET, SOUNDTRACK, DVD]
    blu_ray = products[BLU_RAY]
    assert (blu_ray.merchant, blu_ray.title, blu_ray.format, blu_ray.region) == (
        "Amazon", "Leaving Las Vegas [Blu-ray]", ProductFormat.BLU_RAY, "US")
    assert blu_ray.link == "https://www.amazon.com/dp/B00C6FBZ8S?tag=yoursite-20&linkCode=ogi&th=1&psc=1"
    assert blu_ray.image_url == "https://m.media-amazon.com/images/I/51yq1Lz3jUL._SL160_.jpg"
    assert (blu_ray.price, blu_ray.currency) == (Decimal("12.99"), "USD")
    assert str(blu_ray.price) == "12.99"
    assert (blu_ray.availability, blu_ray.gtin) == (Availability.IN_STOCK, "0883904305385")
    assert [(link.film, link.relation, link.curated, link.candidate) for link in blu_ray.films] == [
        (LLV, Relation.EDITION, False, False)]


@responses.activate
def test_bindings_map_to_formats_relations_and_availability():
    token()
    get_items()
    products = {p.merchant_id: p for p in provider().fetch([llv(BLU_RAY, NOVEL, BOX_SET, SOUNDTRACK,
                                                                DVD)]).products}

    novel, box_set, soundtrack, dvd = (products[a] for a in (NOVEL, BOX_SET, SOUNDTRACK, DVD))
    assert (novel.format, novel.films[0].relation, novel.availability) == (
        ProductFormat.BOOK, Relation.SOURCE_NOVEL, Availability.OUT_OF_STOCK)
    assert (novel.price, novel.gtin) == (Decimal("16"), "9780802135339")
    assert (box_set.format, box_set.films[0].relation) == (ProductFormat.DVD, Relation.COLLECTION)
    assert (box_set.availability, box_set.image_url) == (Availability.IN_STOCK, None)
    assert (soundtrack.format, soundtrack.films[0].relation) == (
        ProductFormat.SOUNDTRACK_CD, Relation.SOUNDTRACK)
    # No offer: nothing to buy and no price; the UPC is the GTIN when there is no EAN.
    assert (soundtrack.price, soundtrack.currency, soundtrack.availability, soundtrack.gtin) == (
        None, None, Availability.OUT_OF_STOCK, "075679245927")
    # The first listing gives the price.
    assert (dvd.price, dvd.availability, dvd.films[0].relation) == (
        Decimal("7.49"), Availability.IN_STOCK, Relation.EDITION)


@responses.activate
def test_requests_carry_bearer_version_marketplace_and_camel_case_body():
    token_call = token()
    items_call = get_items()
    provider().fetch([llv(BLU_RAY)])

    token_request = token_call.calls[0].request
    credentials = base64.b64encode(f"{CREDENTIAL_ID}:{SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {credentials}"
    assert parse_qs(token_request.body) == {"grant_type": ["client_credentials"],
                                            "scope": ["creatorsapi/default"]}
    request = items_call.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {COGNITO_TOKEN}, Version 2.1"
    assert request.headers["x-marketplace"] == "www.amazon.com"
    sent = requested(items_call.calls[0])
    assert (sent["itemIds"], sent["itemIdType"], sent["partnerTag"], sent["marketplace"]) == (
        [BLU_RAY], "ASIN", "yoursite-20", "www.amazon.com")
    assert {"itemInfo.title", "itemInfo.classifications", "itemInfo.externalIds",
            "images.primary.medium", "offersV2.listings.price",
            "offersV2.listings.availability"} <= set(sent["resources"])


@responses.activate
def test_v3_credentials_use_login_with_amazon_and_a_bare_bearer():
    token_call = token(LWA_NA, "token_lwa.json")
    items_call = get_items()
    provider(credential_version="3.1").fetch([llv(BLU_RAY)])

    assert json.loads(token_call.calls[0].request.body) == {
        "grant_type": "client_credentials", "client_id": CREDENTIAL_ID,
        "client_secret": SECRET, "scope": "creatorsapi::default"}
    assert items_call.calls[0].request.headers["Authorization"] == (
        "Bearer Atc|MQICIJvSKVTZ-example-lwa-token")


def _answer_what_was_asked(request):
    """getItems answering every ASIN asked, as Amazon does for valid ones."""
    template = recorded_json("amazon/get_items.json")["itemsResult"]["items"][0]
    asins = json.loads(request.body)["itemIds"]
    items = [{**template, "asin": asin, "detailPageURL": f"https://www.amazon.com/dp/{asin}"}
             for asin in asins]
    return 200, {"Content-Type": "application/json"}, json.dumps({"itemsResult": {"items": items}})


@responses.activate
def test_twelve_asins_take_two_calls_and_one_token(pauses):
    token_call = token()
    responses.add_callback(responses.POST, GET_ITEMS, callback=_answer_what_was_asked)
    asins = [f"B00000000{n}" for n in range(10)] + ["B000000010", "B000000011"]
    adapter = provider()

    result = adapter.fetch([llv(*asins[:6]), sid(*asins[6:])])
    adapter.fetch([llv(BLU_RAY)])

    calls = [call for call in responses.calls if call.request.url == GET_ITEMS]
    assert [requested(call)["itemIds"] for call in calls] == [asins[:10], asins[10:], [BLU_RAY]]
    assert len(token_call.calls) == 1  # the token is cached for the later calls and fetches
    assert [p.merchant_id for p in result.products] == asins
    assert result.covered == {LLV, SID}
    assert len(pauses) == 2 and all(0 < pause <= 1 for pause in pauses)  # spaced 1 s apart


@responses.activate
def test_an_asin_two_films_hold_is_asked_once_and_only_api_calls_pass_the_throttle():
    token_call = token()
    responses.add_callback(responses.POST, GET_ITEMS, callback=_answer_what_was_asked)
    asins = [f"B00000000{n}" for n in range(10)] + ["B000000010"]
    calls_before_throttle: list[int] = []
    adapter = provider(throttle=lambda: calls_before_throttle.append(len(responses.calls)))

    result = adapter.fetch([llv(*asins[:7]), sid(*asins[5:])])  # B000000005 and 6 in both

    calls = [call for call in responses.calls if call.request.url == GET_ITEMS]
    assert [requested(call)["itemIds"] for call in calls] == [asins[:10], asins[10:]]
    assert len(token_call.calls) == 1 and calls_before_throttle == [1, 2]  # the token's is not
    assert result.covered == {LLV, SID}


@responses.activate
def test_a_token_about_to_expire_is_not_reused():
    token_call = responses.post(COGNITO_NA, json={"access_token": "short-lived", "expires_in": 30})
    get_items()
    adapter = provider()
    adapter.fetch([llv(BLU_RAY)])
    adapter.fetch([llv(BLU_RAY)])
    assert len(token_call.calls) == 2  # 30 s is inside the 60 s margin


@responses.activate
def test_other_merchants_regions_and_malformed_ids_are_not_asked():
    token()
    items_call = get_items()
    query = FilmQuery(key=LLV, title="Leaving Las Vegas",
                      products=refs(BLU_RAY) + refs("B00000TEST", region="GB")
                      + refs("12345", merchant="Awin") + refs("bd-1"))
    result = provider().fetch([query, sid()])

    assert requested(items_call.calls[0])["itemIds"] == [BLU_RAY]
    assert [str(problem) for problem in result.problems] == [
        "imdb:tt0113627: Amazon bd-1: not an ASIN (ten capital letters and digits)"]
    assert result.covered == {SID}


@responses.activate
def test_nothing_to_ask_makes_no_call_and_covers_the_films():
    result = provider().fetch([sid()])
    assert len(responses.calls) == 0
    assert (result.products, result.covered, result.complete) == ([], {SID}, True)


@responses.activate
def test_partial_errors_fail_only_their_asins_and_films():
    token()
    get_items("get_items_partial.json")
    result = provider().fetch([llv(BLU_RAY, SOUNDTRACK), sid("B0DEMOLLV1"),
                               FilmQuery(key=FilmKey(tmdb_id=1), title="X", products=refs(BLU_RAY))])

    assert [p.merchant_id for p in result.products] == [BLU_RAY]
    assert [link.film for link in result.products[0].films] == [LLV, FilmKey(tmdb_id=1)]
    # Not accessible, or an invalid ItemId beside valid ones: Amazon's word that it has no
    # such item, so the films are answered for and those products count a miss.
    assert result.covered == {LLV, SID, FilmKey(tmdb_id=1)}
    assert result.problems == [] and result.complete


@responses.activate
def test_an_asin_left_out_without_an_error_still_fails_its_film():
    token()
    get_items()
    result = provider().fetch([llv(BLU_RAY), sid("B0000NOTME")])
    assert result.covered == {LLV}
    assert [str(problem) for problem in result.problems] == [
        "tmdb:14924: Amazon B0000NOTME: missing from Amazon's answer"]


@responses.activate
def test_a_batch_amazon_knows_none_of_answers_for_its_films():
    token()
    responses.add_callback(responses.POST, GET_ITEMS, callback=lambda request: (
        (404, {}, json.dumps(recorded_json("amazon/items_not_found.json")))
        if json.loads(request.body)["itemIds"] == ["B0DEMOLLV1"] else _answer_what_was_asked(request)))
    asins = [f"B00000000{n}" for n in range(10)]
    result = provider().fetch([llv(*asins), sid("B0DEMOLLV1")])

    assert len(result.products) == 10 and result.covered == {LLV, SID}
    assert result.problems == []


@responses.activate
def test_a_wrong_shaped_item_fails_its_asin_with_the_path():
    token()
    get_items("get_items_bad_entry.json")
    result = provider().fetch([llv(BLU_RAY), sid(DVD)])

    assert [p.merchant_id for p in result.products] == [DVD]
    assert result.covered == {SID}
    (problem,) = result.problems
    assert problem.where == "imdb:tt0113627"
    assert problem.message.startswith(f"Amazon {BLU_RAY}: wrong shape: {GET_ITEMS}: items[0]: "
                                      "detailPageURL: 'javascript:alert(1)' is not an http(s) URL")


# --- link-only mode ----------------------------------------------------------------------


@responses.activate
def test_associate_not_eligible_switches_to_link_only_mode():
    token()
    get_items("not_eligible.json", status=403)
    search = responses.post(SEARCH_ITEMS, json=recorded_json("amazon/search_movies.json"))
    adapter = provider(discover=True)

    result = adapter.fetch([llv(BLU_RAY, NOVEL), sid()])

    assert adapter.link_only is True
    assert len(search.calls) == 0
    blu_ray, novel = result.products
    assert blu_ray.link == "https://www.amazon.com/dp/B00C6FBZ8S?tag=yoursite-20"
    assert (blu_ray.price, blu_ray.currency, blu_ray.image_url) == (None, None, None)
    assert [link.film for link in novel.films] == [LLV]
    assert result.covered == set() and result.complete
    (notice,) = result.problems
    assert "AssociateNotEligible" in notice.message and "link-only" in notice.message


@responses.activate
def test_link_only_mode_ends_when_access_returns():
    token()
    responses.post(GET_ITEMS, json=recorded_json("amazon/not_eligible.json"), status=403)
    get_items()
    adapter = provider()
    adapter.fetch([llv(BLU_RAY)])
    assert adapter.link_only

    result = adapter.fetch([llv(BLU_RAY)])
    assert adapter.link_only is False
    assert result.products[0].price == Decimal("12.99")


@responses.activate
def test_link_only_links_use_the_marketplace_host():
    token(url="https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token")
    get_items("not_eligible.json", status=403)
    result = provider(credential_version="2.2", marketplace="www.amazon.co.uk", region="gb",
                      partner_tag="yoursite-21").fetch([FilmQuery(
                          key=LLV, title="Leaving Las Vegas", products=refs(BLU_RAY, region="GB"))])
    assert result.products[0].link == "https://www.amazon.co.uk/dp/B00C6FBZ8S?tag=yoursite-21"
    assert result.products[0].region == "GB"


# --- whole-fetch failures -----------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("url, version, name, status", [
    (COGNITO_NA, "2.1", "token_invalid_client_cognito.json", 400),
    (LWA_NA, "3.1", "token_invalid_client_lwa.json", 401),
])
def test_refused_credentials_at_the_token_endpoint_are_auth_failed(url, version, name, status):
    responses.post(url, json=recorded_json(f"amazon/{name}"), status=status)
    items_call = get_items()
    with pytest.raises(AuthFailed) as caught:
        provider(credential_version=version).fetch([llv(BLU_RAY)])
    assert "refused the credentials (invalid_client)" in str(caught.value)
    assert len(items_call.calls) == 0
    no_secrets(caught.value)


@responses.activate
def test_a_token_endpoint_that_is_down_is_transient_not_auth():
    responses.post(COGNITO_NA, body="<html>503 Service Unavailable</html>", status=503,
                   content_type="text/html")
    with pytest.raises(Transient):
        provider().fetch([llv(BLU_RAY)])


@responses.activate
def test_a_token_answer_without_a_token_is_a_bad_response():
    responses.post(COGNITO_NA, json={"token_type": "Bearer", "expires_in": 3600})
    with pytest.raises(BadResponse, match="access_token: Field required"):
        provider().fetch([llv(BLU_RAY)])


@responses.activate
def test_a_401_on_a_call_fetches_a_new_token_and_retries_once():
    token_call = token()
    responses.post(GET_ITEMS, json=recorded_json("amazon/token_expired.json"), status=401)
    get_items()
    result = provider().fetch([llv(BLU_RAY)])
    assert len(token_call.calls) == 2
    assert result.covered == {LLV} and result.products


@responses.activate
def test_a_second_401_is_auth_failed():
    token_call = token()
    get_items("token_expired.json", status=401)
    with pytest.raises(AuthFailed, match="TokenExpired") as caught:
        provider().fetch([llv(BLU_RAY)])
    assert len(token_call.calls) == 2
    no_secrets(caught.value)


@responses.activate
@pytest.mark.parametrize("name, status", [("invalid_partner_tag.json", 400),
                                          ("authorization_failed.json", 403)])
def test_account_configuration_errors_are_auth_failed(name, status):
    token()
    get_items(name, status=status)
    with pytest.raises(AuthFailed) as caught:
        provider().fetch([llv(BLU_RAY)])
    assert recorded_json(f"amazon/{name}")["reason"] in str(caught.value)
    no_secrets(caught.value)


@responses.activate
def test_a_request_amazon_refuses_as_invalid_is_a_bad_response():
    token()
    get_items("field_validation_failed.json", status=400)
    with pytest.raises(BadResponse, match="FieldValidationFailed"):
        provider().fetch([llv(BLU_RAY)])


@responses.activate
def test_429_waits_the_seconds_amazon_puts_in_the_body():
    token()
    get_items("throttled.json", status=429, headers={"Retry-After": "5"})
    with pytest.raises(RateLimited) as caught:
        provider().fetch([llv(BLU_RAY)])
    assert caught.value.retry_after == 60
    no_secrets(caught.value)


@responses.activate
@pytest.mark.parametrize("header, low, high", [
    ("30", 30, 30),
    ("Wed, 21 Oct 2099 07:28:00 GMT", 1e9, 3e9),
])
def test_429_without_a_body_wait_uses_retry_after(header, low, high):
    token()
    get_items("throttled_plain.json", status=429, headers={"Retry-After": header})
    with pytest.raises(RateLimited) as caught:
        provider().fetch([llv(BLU_RAY)])
    assert low <= caught.value.retry_after <= high


@responses.activate
@pytest.mark.parametrize("answer", [
    {"json": recorded_json("amazon/internal_error.json"), "status": 500},
    {"body": "<html><body>502 Bad Gateway</body></html>", "status": 502, "content_type": "text/html"},
    {"body": requests.Timeout("read timed out")},
    {"body": requests.ConnectionError(f"https://creatorsapi.amazon?key={SECRET}")},
])
def test_server_and_transport_failures_are_transient(answer):
    token()
    responses.post(GET_ITEMS, **answer)
    with pytest.raises(Transient) as caught:
        provider().fetch([llv(BLU_RAY)])
    no_secrets(caught.value)


@responses.activate
@pytest.mark.parametrize("answer, expected", [
    ({"body": '{"itemsResult": {"items": [', "content_type": "application/json"}, "not valid JSON"),
    ({"body": "<html>Sign in</html>", "content_type": "text/html"}, "expected JSON, got text/html"),
    ({"json": recorded_json("amazon/get_items_wrong_shape.json")},
     "itemsResult.items: Input should be a valid list"),
    ({"json": {"errors": []}}, "itemsResult: Field required"),
    ({"json": [1, 2]}, "(top level)"),
])
def test_answers_not_shaped_as_documented_are_bad_responses(answer, expected):
    token()
    responses.post(GET_ITEMS, **answer)
    with pytest.raises(BadResponse) as caught:
        provider().fetch([llv(BLU_RAY)])
    assert expected in str(caught.value)
    assert GET_ITEMS in str(caught.value)


# --- discovery -----------------------------------------------------------------------------


def _searches():
    responses.post(SEARCH_ITEMS, json=recorded_json("amazon/search_movies.json"),
                   match=[responses.matchers.json_params_matcher({"searchIndex": "MoviesAndTV"},
                                                                 strict_match=False)])
    responses.post(SEARCH_ITEMS, json=recorded_json("amazon/search_music.json"),
                   match=[responses.matchers.json_params_matcher({"searchIndex": "Music"},
                                                                 strict_match=False)])
    responses.post(SEARCH_ITEMS, json=recorded_json("amazon/search_books.json"),
                   match=[responses.matchers.json_params_matcher({"searchIndex": "Books"},
                                                                 strict_match=False)])


@responses.activate
def test_discovery_finds_candidates_for_a_film_without_amazon_products():
    token()
    _searches()
    result = provider(discover=True).fetch([llv()])

    sent = [requested(call) for call in responses.calls if call.request.url == SEARCH_ITEMS]
    assert [(s["searchIndex"], s.get("title"), s.get("keywords"), s["itemCount"]) for s in sent] == [
        ("MoviesAndTV", "Leaving Las Vegas", None, 10),
        ("Music", None, "Leaving Las Vegas soundtrack", 5),
        ("Books", "Leaving Las Vegas", None, 5),
    ]
    assert all(s["partnerTag"] == "yoursite-20" for s in sent)
    found = {p.merchant_id: p for p in result.products}
    # Only the Prime Video entry and the bad entry are dropped: the unrelated "Las Vegas:
    # Season 1" is a candidate too, for the service's scoring to reject (affiliate.matching).
    assert list(found) == ["B07Q1KYH7R", BOX_SET, "B000HEWEJ0", SOUNDTRACK, "B001NZXQ5U", NOVEL,
                           "B004CFA9RS"]
    assert {(p.format, p.films[0].relation) for p in found.values()} == {
        (ProductFormat.UHD_BLU_RAY, Relation.EDITION), (ProductFormat.DVD, Relation.COLLECTION),
        (ProductFormat.DVD, Relation.EDITION), (ProductFormat.SOUNDTRACK_CD, Relation.SOUNDTRACK),
        (ProductFormat.DIGITAL_ALBUM, Relation.SOUNDTRACK), (ProductFormat.BOOK, Relation.SOURCE_NOVEL)}
    box_set = found[BOX_SET].facts  # what the service scores it on
    assert box_set.contents == ("Leaving Las Vegas", "Raising Arizona", "Moonstruck", "Adaptation",
                                "The Weather Man")
    assert all([(link.film, link.candidate, link.curated) for link in p.films] == [(LLV, True, False)]
               for p in found.values())
    assert found["B07Q1KYH7R"].availability is Availability.PREORDER
    assert found["B07Q1KYH7R"].price == Decimal("29.99")
    (problem,) = result.problems  # the bad search entry is reported, the film still covered
    assert problem.where == "imdb:tt0113627" and "B0BADENTRY" not in found
    assert "MoviesAndTV search: wrong shape" in problem.message
    assert result.covered == {LLV}


@responses.activate
def test_discovery_searches_a_film_once_skips_untitled_films_and_can_be_off():
    token()
    get_items()
    _searches()
    untitled = FilmQuery(key=FilmKey(tmdb_id=603), title="")
    searched_before = dataclasses.replace(llv(BLU_RAY), discovered=True)
    result = provider(discover=True).fetch([searched_before, untitled])
    provider(discover=False).fetch([sid()])
    assert not [call for call in responses.calls if call.request.url == SEARCH_ITEMS]
    assert result.discovered == set()


@responses.activate
def test_a_search_without_results_gives_no_candidates():
    token()
    responses.post(SEARCH_ITEMS, json=recorded_json("amazon/search_not_found.json"), status=404)
    result = provider(discover=True).fetch([sid()])
    assert len([call for call in responses.calls if call.request.url == SEARCH_ITEMS]) == 3
    assert (result.products, result.problems, result.covered) == ([], [], {SID})


@responses.activate
def test_a_search_hit_already_linked_to_another_film_joins_both():
    token()
    get_items()
    _searches()
    result = provider(discover=True).fetch([sid(BOX_SET), llv()])
    box_set = next(p for p in result.products if p.merchant_id == BOX_SET)
    assert [(link.film, link.candidate) for link in box_set.films] == [(SID, False), (LLV, True)]


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("key, value", [
    ("credential_version", "4.1"),
    ("region", "XX"),
    ("marketplace", "https://www.amazon.com"),
    ("partner_tag", " "),
    ("base_url", "ftp://creatorsapi.amazon"),
    ("token_url", "not a url"),
    ("timeout_seconds", 0),
])
def test_settings_are_checked(key, value):
    with pytest.raises(ValidationError):
        provider(**{key: value})


def test_settings_defaults_and_class_facts():
    settings = provider().settings
    assert (settings.marketplace, settings.region, settings.base_url, settings.token_url) == (
        "www.amazon.com", "US", "https://creatorsapi.amazon", None)
    assert (settings.timeout_seconds, settings.discover) == (15, False)
    assert SECRET not in repr(settings)
    assert AmazonProvider.terms.disclosure == "As an Amazon Associate I earn from qualifying purchases."
    assert AmazonProvider.terms.price_max_age.total_seconds() == 24 * 3600
    assert (AmazonProvider.batch_size, AmazonProvider.requests_per_second) == (10, 1)
    assert [c.name for c in AmazonProvider.credentials] == [
        "credential_id", "credential_secret", "credential_version", "partner_tag"]
    assert issubclass(client.TokenRejected, ProviderError)


# --- over a real socket ---------------------------------------------------------------------


def test_works_through_a_stand_in_for_both_the_token_endpoint_and_the_api(standin):
    standin.route("POST", "/auth/o2/token", Answer(200, json.dumps(recorded_json("amazon/token_lwa.json"))))
    standin.route("POST", "/catalog/v1/getItems", Answer(200, recorded("amazon/get_items.json")))
    standin.route("POST", "/catalog/v1/searchItems",
                  Answer(200, json.dumps(recorded_json("amazon/search_books.json"))))
    adapter = provider(credential_version="3.1", base_url=standin.url,
                       token_url=f"{standin.url}/auth/o2/token", discover=True)

    result = adapter.fetch([llv(BLU_RAY, DVD), sid()])

    assert [(r.method, r.path) for r in standin.requests] == [
        ("POST", "/auth/o2/token"), ("POST", "/catalog/v1/getItems"),
        *[("POST", "/catalog/v1/searchItems")] * 6]  # three searches for each film, once
    api_call = standin.requests[1]
    assert api_call.headers["Authorization"] == "Bearer Atc|MQICIJvSKVTZ-example-lwa-token"
    assert api_call.headers["x-marketplace"] == "www.amazon.com"
    assert json.loads(api_call.body)["itemIds"] == [BLU_RAY, DVD]
    assert [p.merchant_id for p in result.products] == [BLU_RAY, DVD, NOVEL, "B004CFA9RS"]
    assert result.covered == {LLV, SID}


# --- what Amazon's answer leaves out ----------------------------------------------------------


@responses.activate
def test_an_item_without_item_info_keeps_its_price_and_leaves_title_and_format_to_the_store():
    """An offers-only answer (resources without itemInfo) still prices the product."""
    token()
    get_items("get_items_offers_only.json")
    result = provider().fetch([llv(BLU_RAY, NOVEL)])

    assert result.problems == [] and result.covered == {LLV}
    blu_ray, novel = result.products
    assert (blu_ray.merchant_id, blu_ray.price, blu_ray.currency) == (BLU_RAY, Decimal("12.99"), "USD")
    assert (novel.merchant_id, novel.price) == (NOVEL, Decimal("9.49"))
    assert (blu_ray.title, blu_ray.format, blu_ray.availability) == (None, None, Availability.IN_STOCK)
    assert blu_ray.link.startswith("https://www.amazon.com/dp/B00C6FBZ8S")


@pytest.fixture
def stored_llv(db):
    with db.session() as session:
        session.add(Film(title="Leaving Las Vegas", year=1995, imdb_id="tt0113627", tmdb_id=451))
    return db


@responses.activate
def test_a_stored_product_keeps_its_title_when_amazon_sends_only_offers(stored_llv):
    db = stored_llv
    token()
    get_items()
    reconcile(db, "amazon", provider().fetch([llv(BLU_RAY)]), hide_after_misses=3)
    responses.replace(responses.POST, GET_ITEMS, json=recorded_json("amazon/get_items_offers_only.json"))
    reconcile(db, "amazon", provider().fetch([llv(BLU_RAY)]), hide_after_misses=3)

    with db.session() as session:
        stored = session.exec(select(Product).where(Product.merchant_id == BLU_RAY)).one()
    assert (stored.title, stored.format, stored.price) == (
        "Leaving Las Vegas [Blu-ray]", "blu-ray", Decimal("12.99"))


@responses.activate
def test_an_asin_amazon_no_longer_has_is_hidden_after_three_answers(stored_llv):
    """ItemNotAccessible is Amazon's word that the item is gone: a miss each time, hidden at
    catalog.hide_after_misses; until then it is still shown."""
    db = stored_llv
    token()
    get_items()
    reconcile(db, "amazon", provider().fetch([llv(BLU_RAY, SOUNDTRACK)]), hide_after_misses=3)
    responses.replace(responses.POST, GET_ITEMS, json=recorded_json("amazon/get_items_partial.json"))

    for expected_hidden in (False, False, True):
        result = provider().fetch([llv(BLU_RAY, SOUNDTRACK)])
        stats = reconcile(db, "amazon", result, hide_after_misses=3)
        assert stats.products_missing == 1
        with db.session() as session:
            gone = session.exec(select(Product).where(Product.merchant_id == SOUNDTRACK)).one()
        assert gone.hidden is expected_hidden


@responses.activate
def test_box_sets_of_the_top_billed_actors_and_the_director_are_searched_once_a_person():
    token()
    _searches()
    cage, shue = Person("Nicolas Cage", "actor"), Person("Elisabeth Shue", "actor")
    figgis = Person("Mike Figgis", "director")
    films = [dataclasses.replace(llv(), people=(cage, shue, Person("Julian Sands", "actor"), figgis)),
             dataclasses.replace(sid(), people=(cage,))]

    result = provider(discover=True, cast_searches=2).fetch(films)

    sent = [requested(call) for call in responses.calls if call.request.url == SEARCH_ITEMS]
    cast = [(s.get("actor"), s.get("keywords")) for s in sent if s.get("actor") or
            "collection" in (s.get("keywords") or "")]
    # Nicolas Cage is searched once for both films; the third-billed actor not at all.
    assert cast == [("Nicolas Cage", "collection"), ("Elisabeth Shue", "collection"),
                    (None, "Mike Figgis collection")]
    assert all(s["searchIndex"] == "MoviesAndTV" for s in sent if s.get("actor"))
    box_set = next(p for p in result.products if p.merchant_id == BOX_SET)
    assert {link.film for link in box_set.films} == {LLV, SID}  # a candidate of both


@responses.activate
def test_cast_searches_can_be_off():
    token()
    _searches()
    film = dataclasses.replace(llv(), people=(Person("Nicolas Cage", "actor"),))
    provider(discover=True, cast_searches=0).fetch([film])
    assert not [call for call in responses.calls
                if call.request.url == SEARCH_ITEMS and "actor" in requested(call)]
