"""The OpenAPI document: a valid OpenAPI 3.1 description of every /api/v1 route, whose
schemas the API's real answers satisfy, and which other modules can extend."""
from __future__ import annotations

import re

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from affiliate import Affiliate, openapi

LLV = "imdb:tt0113627"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented_with_its_methods(app, document):
    """The widgets' API and any other under an /api/v1/ (the admin API's /admin/api/v1/)."""
    routes = [rule for rule in app.url_map.iter_rules() if "/api/v1/" in rule.rule]
    assert {"/api/v1/films/<film>/offers", "/api/v1/openapi.json"} <= {r.rule for r in routes}
    for rule in routes:
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in document["paths"], f"{rule.rule} is not in the OpenAPI document"
        for method in rule.methods - IGNORED_METHODS:
            assert method.lower() in document["paths"][path], f"{method} {rule.rule}"


def test_the_server_url_follows_where_the_api_is_mounted(demo, settings):
    host = Flask("film_site")
    Affiliate(host, settings, url_prefix="/affiliate")
    try:
        document = host.test_client().get("/affiliate/api/v1/openapi.json").json
        assert document["servers"] == [{"url": "http://localhost/affiliate"}]
    finally:
        host.extensions["affiliate"].db.dispose()


def schema_validator(document: dict, name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(root)


@pytest.mark.parametrize("resource, schema, query", [
    ("offers", "Offers", "region=US"),
    ("offers", "Offers", "region=GB&locale=en_GB&kind=rent"),
    ("offers", "Offers", "region=FR"),
    ("products", "Products", "region=US"),
    ("products", "Products", "region=US&format=book"),
])
def test_real_answers_match_their_schemas(client, demo, document, resource, schema, query):
    response = client.get(f"/api/v1/films/{LLV}/{resource}?{query}")
    assert response.status_code == 200
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in schema_validator(document, schema).iter_errors(response.json)]
    assert errors == []


@pytest.mark.parametrize("film, resource, query, status", [
    (LLV, "offers", "?region=USA", 400),
    ("imdb:tt9999999", "products", "", 404),
])
def test_errors_match_the_error_schema(client, demo, document, film, resource, query, status):
    response = client.get(f"/api/v1/films/{film}/{resource}{query}")
    assert response.status_code == status
    assert schema_validator(document, "Error").is_valid(response.json)
    responses = document["paths"][f"/api/v1/films/{{film}}/{resource}"]["get"]["responses"]
    assert str(status) in responses


@pytest.fixture
def registry(monkeypatch):
    """The module's registry, restored after the test."""
    monkeypatch.setattr(openapi, "_paths", dict(openapi._paths))
    monkeypatch.setattr(openapi, "_components", {kind: dict(entries) for kind, entries
                                                 in openapi._components.items()})


def test_other_modules_add_their_paths_and_components(registry, client):
    openapi.register(
        {"/api/v1/test-only/things": {"get": {
            "operationId": "listThings", "summary": "Things",
            "responses": {"200": {"description": "Things", "content": {"application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/TestOnlyThing"}},
            }}}}}}},
        {"schemas": {"TestOnlyThing": {"type": "object"}},
         "securitySchemes": {"testOnlyToken": {"type": "http", "scheme": "bearer"}}},
    )
    document = client.get("/api/v1/openapi.json").json
    assert "/api/v1/test-only/things" in document["paths"]
    assert document["components"]["securitySchemes"]["testOnlyToken"] == {
        "type": "http", "scheme": "bearer"}
    assert "Offers" in document["components"]["schemas"]
    validate(document)


def test_a_path_or_component_cannot_be_described_twice(registry):
    with pytest.raises(ValueError, match="/api/v1/films/{film}/offers"):
        openapi.register({"/api/v1/films/{film}/offers": {}})
    with pytest.raises(ValueError, match="components/schemas/Offers"):
        openapi.register({"/api/v1/other": {}}, {"schemas": {"Offers": {}}})
    assert "/api/v1/other" not in openapi.document("/")["paths"]


def test_the_document_is_cacheable_and_conditional(client):
    first = client.get("/api/v1/openapi.json")
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    again = client.get("/api/v1/openapi.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
