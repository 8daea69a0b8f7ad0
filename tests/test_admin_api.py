"""The admin JSON API (/admin/api/v1): bearer tokens only, every action the console has, 4xx
answers with a reason, and every answer matching its schema in the OpenAPI document."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
import responses
from sqlmodel import select

from affiliate import credential_store, credentials
from affiliate.admin import auth
from affiliate.clicks import Destination, record_click
from affiliate.models import Film, ProviderCredential
from affiliate.openapi import document
from affiliate.refresh import run_refresh
from tests.admin_support import admin_app, bearer, fast_password_hashing, log_in

jsonschema = pytest.importorskip("jsonschema")

FILM = "imdb:tt0113627"
TMDB = "https://tmdb.test"
GOOD_TOKEN = "tmdb-good-token-0123456789"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def app(make_settings):
    app = admin_app(make_settings, providers={
        "demo": {"type": "feed", "url": "builtin:demo"},
        "tmdb": {"type": "tmdb", "base_url": TMDB, "read_access_token": "config-token-0123456789",
                 "regions": ["US"], "enabled": False},
    })
    db = app.extensions["affiliate"].db
    run_refresh(db, app.extensions["affiliate"].settings, "demo")
    yield app
    db.dispose()


@pytest.fixture
def db(app):
    return app.extensions["affiliate"].db


@pytest.fixture
def api(app, db):
    """call(method, path, **kwargs) -> response, authenticated, each JSON answer checked
    against the OpenAPI document's schema for its path, method and status."""
    client = app.test_client()
    headers = bearer(db)
    spec = document("http://localhost/")

    def call(method: str, path: str, template: str | None = None, **kwargs):
        response = client.open(f"/admin/api/v1{path}", method=method,
                               headers={**headers, **kwargs.pop("headers", {})}, **kwargs)
        template = "/admin/api/v1" + (template or path.split("?")[0])
        operation = spec["paths"][template][method.lower()]
        answer = operation["responses"].get(str(response.status_code))
        assert answer is not None, f"{method} {template} answered {response.status_code}, undocumented"
        answer = _resolve(spec, answer)
        if "content" in answer:
            schema = {**answer["content"]["application/json"]["schema"], "components": spec["components"]}
            jsonschema.Draft202012Validator(schema).validate(response.get_json())
        return response

    return call


def _resolve(spec: dict, item: dict) -> dict:
    while "$ref" in item:
        _, kind, group, name = item["$ref"].split("/")
        item = spec[kind][group][name]
    return item


# --- tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer", "Bearer aff_not-a-real-token", "Basic dXNlcjpwdw==",
                                    "Token aff_x"])
def test_without_a_valid_token_every_call_is_a_401(app, header):
    client = app.test_client()
    headers = {"Authorization": header} if header else {}

    response = client.get("/admin/api/v1/providers", headers=headers)
    write = client.post("/admin/api/v1/films", json={"film": "tmdb:603"}, headers=headers)

    assert response.status_code == write.status_code == 401
    assert "Authorization: Bearer <token>" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_console_session_does_not_authenticate_the_api(app, db):
    client = app.test_client()
    log_in(client, db)

    assert client.get("/admin/api/v1/providers").status_code == 401


def test_a_revoked_token_stops_working_and_use_is_recorded(app, db):
    client = app.test_client()
    token, secret = auth.create_token(db, "ci")
    headers = {"Authorization": f"Bearer {secret}"}

    assert client.get("/admin/api/v1/films", headers=headers).status_code == 200
    assert auth.list_tokens(db)[0].last_used_at is not None
    auth.revoke_token(db, token.id)

    assert client.get("/admin/api/v1/films", headers=headers).status_code == 401


# --- providers ------------------------------------------------------------------------------

def test_providers_list_health_and_credentials_status(api):
    body = api("GET", "/providers").get_json()

    by_name = {p["name"]: p for p in body["providers"]}
    assert list(by_name) == ["demo", "tmdb"]
    assert by_name["demo"]["credentials"] is None and by_name["demo"]["last_success_at"]
    fields = by_name["tmdb"]["credentials"]["fields"]
    assert {f["name"]: f["source"] for f in fields}["read_access_token"] == "config"
    assert "config-token-0123456789" not in str(body)


def test_an_unknown_provider_is_a_404(api):
    response = api("GET", "/providers/nope", "/providers/{name}")

    assert response.status_code == 404 and "no provider named 'nope'" in response.get_json()["error"]


@responses.activate
def test_credentials_are_saved_tested_and_deleted_without_ever_being_shown(api, db, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(credentials.KEY_VARIABLE, credentials.generate_key())
    responses.get(f"{TMDB}/3/authentication", status=401,
                  json={"success": False, "status_code": 7, "status_message": "Invalid API key"})
    responses.get(f"{TMDB}/3/authentication", json={"success": True, "status_code": 1,
                                                    "status_message": "Success."})

    refused = api("POST", "/providers/tmdb/credentials/check", "/providers/{name}/credentials/check")
    saved = api("PUT", "/providers/tmdb/credentials", "/providers/{name}/credentials",
                json={"read_access_token": GOOD_TOKEN})
    status = api("GET", "/providers/tmdb", "/providers/{name}").get_json()["credentials"]

    assert refused.get_json()["ok"] is False
    assert saved.status_code == 200 and saved.get_json()["ok"] is True
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {GOOD_TOKEN}"
    field = {f["name"]: f for f in status["fields"]}["read_access_token"]
    assert field["source"] == "stored" and status["ok"] is True
    with db.session() as session:
        stored = session.exec(select(ProviderCredential)).one()
    assert GOOD_TOKEN not in stored.ciphertext
    for text in (saved.get_data(as_text=True), str(status), caplog.text):
        assert GOOD_TOKEN not in text

    deleted = api("DELETE", "/providers/tmdb/credentials", "/providers/{name}/credentials")
    assert deleted.status_code == 204
    with db.session() as session:
        assert session.exec(select(ProviderCredential)).first() is None


@pytest.mark.parametrize("body, reason", [
    ({}, "send each credential"),
    ({"read_access_token": ""}, "read_access_token: 1 to 2000 printable ASCII"),
    ({"read_access_token": 42}, "read_access_token: 1 to 2000 printable ASCII"),
    ({"read_access_token": "two words"}, "read_access_token: 1 to 2000 printable ASCII"),
    ({"password": "x"}, "has no credential"),
])
def test_bad_credentials_bodies_are_400s_and_store_nothing(api, db, monkeypatch, body, reason):
    monkeypatch.setenv(credentials.KEY_VARIABLE, credentials.generate_key())

    response = api("PUT", "/providers/tmdb/credentials", "/providers/{name}/credentials", json=body)

    assert response.status_code == 400 and reason in response.get_json()["error"]
    with db.session() as session:
        assert session.exec(select(ProviderCredential)).first() is None


def test_credentials_need_a_json_object(api):
    response = api("PUT", "/providers/tmdb/credentials", "/providers/{name}/credentials",
                   data="read_access_token=x")

    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]


def test_refresh_now_for_a_provider_starts_once(app, api):
    app.extensions["affiliate_admin"].refresher.start = lambda job: None  # still running

    first = api("POST", "/providers/demo/refresh", "/providers/{name}/refresh")
    second = api("POST", "/providers/demo/refresh", "/providers/{name}/refresh")

    assert first.status_code == 202 and first.get_json()["started"] is True
    assert second.status_code == 409
    assert api("GET", "/providers/demo", "/providers/{name}").get_json()["refreshing"] is True


def test_a_crashed_background_run_is_logged_and_frees_the_provider(api, monkeypatch, caplog):
    def crash(engine, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("affiliate.refresh.RefreshEngine.run", crash)

    first = api("POST", "/providers/demo/refresh", "/providers/{name}/refresh")
    second = api("POST", "/providers/demo/refresh", "/providers/{name}/refresh")

    assert first.status_code == second.status_code == 202
    assert "refresh of demo started from the console failed" in caplog.text


def test_a_disabled_provider_is_not_refreshed(api):
    response = api("POST", "/providers/tmdb/refresh", "/providers/{name}/refresh")

    assert response.status_code == 400 and "is disabled" in response.get_json()["error"]


# --- films ----------------------------------------------------------------------------------

def test_films_are_searched_by_title(api):
    titles = [f["title"] for f in api("GET", "/films?q=las vegas").get_json()["films"]]

    assert titles == ["Fear and Loathing in Las Vegas", "Leaving Las Vegas"]


def test_a_film_shows_every_offer_with_its_source_and_its_products(api):
    body = api("GET", f"/films/{FILM}", "/films/{film}").get_json()

    assert body["title"] == "Leaving Las Vegas" and body["tmdb_id"] == 451
    assert {offer["source"] for offer in body["offers"]} == {"demo"}
    assert all(isinstance(offer["price"], (str, type(None))) for offer in body["offers"])
    assert any(link["title"].startswith("Nicolas Cage: 5-Film Collection") for link in body["products"])


def test_adding_a_film_creates_and_refreshes_it(api, db):
    created = api("POST", "/films", json={"film": "tmdb:603"})
    again = api("POST", "/films", json={"film": "tmdb:603"})

    assert created.status_code == 201 and created.get_json()["created"] is True
    assert [r["provider"] for r in created.get_json()["refresh"]] == ["demo"]
    assert created.get_json()["film"]["title"] == ""
    assert again.status_code == 200 and again.get_json()["created"] is False
    with db.session() as session:
        assert len(session.exec(select(Film).where(Film.tmdb_id == 603)).all()) == 1


@pytest.mark.parametrize("body, reason", [
    ({"film": "603"}, "film: add a film by its TMDB or IMDb id"),
    ({"film": "tmdb:abc"}, "film: add a film by its TMDB or IMDb id"),
    ({"film": ""}, "film: add a film by its TMDB or IMDb id"),
    ({}, "film: required"),
    ({"film": "tmdb:603", "title": "The Matrix"}, "unknown property title; use film, refresh"),
])
def test_adding_a_film_badly_is_a_400_with_the_reason(api, body, reason):
    response = api("POST", "/films", json=body)

    assert response.status_code == 400 and reason in response.get_json()["error"]


def test_refreshing_a_film_reports_each_provider(api):
    body = api("POST", f"/films/{FILM}/refresh", "/films/{film}/refresh").get_json()

    assert [(r["provider"], r["status"]) for r in body["refresh"]] == [("demo", "complete")]
    assert body["film"]["ref"] == FILM


def test_an_unknown_film_is_a_404_and_a_malformed_one_a_400(api):
    assert api("GET", "/films/tmdb:999999", "/films/{film}").status_code == 404
    assert api("POST", "/films/tmdb:999999/refresh", "/films/{film}/refresh").status_code == 404
    assert api("GET", "/films/nonsense", "/films/{film}").status_code == 400


# --- curation -------------------------------------------------------------------------------

def test_link_change_and_order_products(api):
    linked = api("POST", f"/films/{FILM}/products", "/films/{film}/products",
                 json={"asin": "B000FQJAIA", "title": "Leaving Las Vegas 4K", "format": "4k-uhd"})
    link = linked.get_json()["links"][0]
    pinned = api("PATCH", f"/films/{FILM}/products/{link['id']}", "/films/{film}/products/{link_id}",
                 json={"pinned": True, "status": "approved"})
    links = api("GET", f"/films/{FILM}", "/films/{film}").get_json()["products"]
    others = [row["id"] for row in links if row["id"] != link["id"]][:2]
    ordered = api("PUT", f"/films/{FILM}/products/order", "/films/{film}/products/order",
                  json={"links": [*others, link["id"]]})

    assert linked.status_code == 201 and link["merchant"] == "Amazon" and link["origin"] == "curated"
    assert pinned.get_json()["pinned"] is True and pinned.get_json()["position"] == 0
    positions = {row["id"]: row["position"] for row in ordered.get_json()["links"]}
    assert [positions[i] for i in (*others, link["id"])] == [0, 1, 2]


@pytest.mark.parametrize("body, reason", [
    ({"pinned": "yes"}, "pinned: true or false"),
    ({"deleted": True}, "unknown property deleted; use status, pinned, hidden"),
    ({}, "send at least one of status, pinned, hidden"),
    ({"status": "maybe"}, "status: one of approved, candidate, rejected"),
])
def test_a_bad_link_change_is_a_400(api, body, reason):
    link_id = api("GET", f"/films/{FILM}", "/films/{film}").get_json()["products"][0]["id"]

    response = api("PATCH", f"/films/{FILM}/products/{link_id}", "/films/{film}/products/{link_id}",
                   json=body)

    assert response.status_code == 400 and reason in response.get_json()["error"]


def test_a_link_of_another_film_is_a_404(api):
    link_id = api("GET", f"/films/{FILM}", "/films/{film}").get_json()["products"][0]["id"]

    response = api("PATCH", f"/films/imdb:tt0037884/products/{link_id}", "/films/{film}/products/{link_id}",
                   json={"hidden": True})

    assert response.status_code == 404


@pytest.mark.parametrize("body", [{"links": []}, {"links": ["1"]}, {"links": [True]}, {"order": [1]}])
def test_a_bad_order_is_a_400(api, body):
    response = api("PUT", f"/films/{FILM}/products/order", "/films/{film}/products/order", json=body)

    assert response.status_code == 400


def test_a_bad_product_reference_is_a_400_and_a_missing_gtin_a_404(api):
    bad = api("POST", f"/films/{FILM}/products", "/films/{film}/products", json={"asin": "nope"})
    missing = api("POST", f"/films/{FILM}/products", "/films/{film}/products",
                  json={"gtin": "4006381333931"})

    assert bad.status_code == 400 and "is not an ASIN" in bad.get_json()["error"]
    assert missing.status_code == 404 and "GTIN 4006381333931" in missing.get_json()["error"]


# --- clicks and the document ----------------------------------------------------------------

def test_the_click_report(api, db):
    now = dt.datetime.now(dt.timezone.utc)
    with db.session() as session:
        film_id = session.exec(select(Film.id).where(Film.imdb_id == "tt0113627")).one()
    record_click(db, Destination(target="o1", url="https://example.com", direct=False, film_id=film_id,
                                 offer_id=None, product_id=None, name="Vudu", region="US", kind="rent",
                                 widget="how-to-watch"), "redirect", now)

    body = api("GET", "/clicks").get_json()

    assert body["total"] == 1 and body["until"] == now.date().isoformat()
    assert body["by_platform"] == [{"day": now.date().isoformat(), "platform": "Vudu", "clicks": 1}]
    assert body["top_films"][0]["ref"] == FILM
    assert api("GET", "/clicks?since=not-a-date").status_code == 400


def test_the_openapi_document_describes_the_admin_api_with_its_token(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()

    admin_paths = [path for path in spec["paths"] if path.startswith("/admin/api/v1/")]
    assert len(admin_paths) >= 10
    assert spec["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
    for path in admin_paths:
        for operation in spec["paths"][path].values():
            assert operation["security"] == [{"adminToken": []}]
            assert "401" in operation["responses"]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


# --- webhooks ---------------------------------------------------------------------------------

@pytest.fixture
def public_dns(monkeypatch):
    """hooks.example.com resolves to a public address; nothing is sent in these tests."""
    import socket

    def resolve(host, port, *args, **kwargs):
        assert host == "hooks.example.com", host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr("providers.outbound.socket.getaddrinfo", resolve)
    monkeypatch.setenv(credential_store.KEY_VARIABLE, credential_store.generate_key())


def test_webhooks_are_registered_read_resumed_and_removed(api, public_dns):
    added = api("POST", "/webhooks", json={"url": "https://hooks.example.com/in", "events": ["left", "appeared"],
                                            "regions": ["gb"], "description": "newsletter"})
    hook = added.get_json()["webhook"]
    one = api("GET", f"/webhooks/{hook['id']}", "/webhooks/{endpoint_id}")
    listed = api("GET", "/webhooks")
    resumed = api("POST", f"/webhooks/{hook['id']}/resume", "/webhooks/{endpoint_id}/resume")
    again = api("POST", f"/webhooks/{hook['id']}/deliveries/5/send-again",
                "/webhooks/{endpoint_id}/deliveries/{delivery_id}/send-again")
    removed = api("DELETE", f"/webhooks/{hook['id']}", "/webhooks/{endpoint_id}")
    gone = api("GET", f"/webhooks/{hook['id']}", "/webhooks/{endpoint_id}")

    assert added.status_code == 201 and added.get_json()["secret"].startswith("whsec_")
    assert (hook["events"], hook["regions"], hook["state"]) == (["appeared", "left"], ["GB"], "active")
    assert one.get_json()["deliveries"] == [] and listed.get_json()["webhooks"] == [hook]
    assert resumed.status_code == 200
    assert again.status_code == 404 and "has no delivery 5" in again.get_json()["error"]
    assert removed.status_code == 204 and gone.status_code == 404


@pytest.mark.parametrize("body, message", [
    ({"url": "http://hooks.example.com/in", "events": ["left"]}, "url: 'http://hooks.example.com/in' is not an https URL"),
    ({"url": "https://hooks.example.com/in", "events": ["sold"]}, "events: choose one or more of"),
    ({"url": "https://hooks.example.com/in", "events": "left"}, "events: a list of at most 100 strings"),
    ({"url": "https://hooks.example.com/in", "events": ["left"], "colour": "red"}, "unknown colour"),
    ({"url": "https://hooks.example.com/in", "events": ["left"], "platforms": ["nope"]}, "platforms: no platform nope"),
    ({"events": ["left"]}, "url: give it as a non-empty string"),
])
def test_bad_webhooks_are_refused_naming_the_field(api, public_dns, body, message):
    answer = api("POST", "/webhooks", json=body)

    assert answer.status_code == 400 and message in answer.get_json()["error"]
    assert api("GET", "/webhooks").get_json() == {"webhooks": []}
