"""schemathesis over the OpenAPI document, both its parts (the public /api/v1 and the admin
/admin/api/v1), against the app with the demo catalog: requests the document calls valid are
accepted, ones it calls invalid refused, and no answer is a 5xx or outside the document
(status, content type, schema).

Bounded so the whole file costs well under a minute: a few derandomized examples per
operation and generation mode, with the document's own examples first.
"""
from __future__ import annotations

import socket

import pytest

schemathesis = pytest.importorskip("schemathesis")

from babel import localedata  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from affiliate import credential_store  # noqa: E402
from affiliate.admin import api_spec  # noqa: E402
from affiliate.openapi import document  # noqa: E402
from affiliate.refresh import run_refresh  # noqa: E402
from tests.admin_support import admin_app, bearer  # noqa: E402

MAX_EXAMPLES = 8
# Rules JSON Schema cannot state: they span fields or depend on what is stored and configured.
# Such requests may be schema-valid and still a 400, so only these operations skip the "valid
# data is accepted" check; every other check runs on them.
CROSS_FIELD_RULES = {
    "adminClicks": "since after until, or a period over 366 days",
    "adminReviewLinks": "min_score above max_score",
    "adminDecideLinks": "min_score above max_score",
    "adminLinkProduct": "exactly one of asin, gtin, url; an ASIN a configured source knows; a "
                        "GTIN's check digit; title and format for a new shop's URL",
    "adminSaveCredentials": "the fields of the named provider's type, and its own checks",
    "getChanges": "platforms the service has stored; days up to [changes] max_days (leaving: "
                  "leaving_days)",
    "getChangesFeed": "platforms the service has stored; days up to [changes] max_days",
    "adminAddWebhook": "https unless [webhooks] allow_local_endpoints, a host that resolves to a "
                       "public address, countries, platforms and films the service knows",
}
SPEC = document("http://localhost")
OPERATIONS = [(path, method, operation["operationId"])
              for path, methods in SPEC["paths"].items() for method, operation in methods.items()]


@pytest.fixture(scope="module", autouse=True)
def _locale_format():
    """The document's `locale` format: identifiers the CLDR knows, in either separator."""
    known = sorted(localedata.locale_identifiers())
    schemathesis.openapi.format("locale", st.sampled_from(known).flatmap(
        lambda code: st.sampled_from([code, code.replace("_", "-")])))
    yield
    from schemathesis.specs.openapi.formats import unregister_string_format
    unregister_string_format("locale")


@pytest.fixture
def app(make_settings, monkeypatch):
    # Webhook URLs: any name resolves to a public address, so no lookup leaves the machine.
    monkeypatch.setattr("providers.outbound.socket.getaddrinfo", lambda host, port, *args, **kwargs: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))])
    monkeypatch.setenv(credential_store.KEY_VARIABLE, credential_store.generate_key())
    app = admin_app(make_settings, providers={
        "demo": {"type": "feed", "url": "builtin:demo"},
        # Never reached: a request that names it by chance is refused before any call.
        "tmdb": {"type": "tmdb", "base_url": "http://127.0.0.1:9", "enabled": False,
                 "read_access_token": "config-token-0123456789", "regions": ["US"]},
    })
    db = app.extensions["affiliate"].db
    run_refresh(db, app.extensions["affiliate"].settings, "demo")
    yield app
    db.dispose()


def _schema(app, token: str):
    config = schemathesis.Config.from_dict({
        "auth": {"openapi": {"adminToken": {"bearer": token}}},
        "operations": [{"include-operation-id": operation_id,
                        "checks": {"positive_data_acceptance": {"enabled": False}}}
                       for operation_id in CROSS_FIELD_RULES],
    })
    schema = schemathesis.openapi.from_dict(SPEC, config=config)
    schema.app = app
    return schema


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("path, method, operation_id", OPERATIONS,
                         ids=[f"{method.upper()} {path}" for path, method, _ in OPERATIONS])
def test_the_api_answers_as_its_document_says(app, path, method, operation_id, mode):
    token = bearer(app.extensions["affiliate"].db)["Authorization"].removeprefix("Bearer ")
    operation = _schema(app, token)[path][method.upper()]
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.function_scoped_fixture])
    @given(case=strategy)
    def answers_as_documented(case):
        case.call_and_validate()

    if mode == "negative" and not _can_be_wrong(operation):
        pytest.skip("the operation takes nothing that could be wrong")
    answers_as_documented()


def _can_be_wrong(operation) -> bool:
    definition = SPEC["paths"][operation.path][operation.method.lower()]
    return bool(definition.get("parameters") or definition.get("requestBody"))


def test_every_operation_is_fuzzed():
    """A new path is covered without editing this file; the admin part is in the document."""
    assert {api_spec.PREFIX + "/review", "/api/v1/films/{film}/offers"} <= {p for p, _, _ in OPERATIONS}
