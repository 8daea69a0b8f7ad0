"""The admin API's part of the OpenAPI document (`affiliate.openapi`): every path under
/admin/api/v1 with its bearer-token security, request bodies and closed response schemas
(no property the API does not send, none it sends left out; tests hold answers to them)."""
from __future__ import annotations

from affiliate import openapi
from affiliate.config import PROVIDER_NAME_PATTERN
from affiliate.webhooks.kinds import EVENT_KINDS
from providers.base import MAX_ID, ProductFormat, Relation, decimal_pattern
from providers.registry import all_types

PREFIX = "/admin/api/v1"
_STRING = {"type": "string"}
_NULLABLE_INT = {"type": ["integer", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_PRICE = {"type": ["string", "null"], "pattern": r"^\d+(\.\d+)?$",
          "description": "A decimal string (\"3.99\"), never a float."}
_MATCH = {
    "score": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
              "description": "How surely the product is this film's (null: linked by hand or not scored)."},
    "reasons": {"type": "array", "items": _STRING,
                "description": "What raised or lowered the score, as the operator reads it."},
}
# Free text the API takes: bounded, without NUL (which PostgreSQL cannot store).
MAX_TEXT = 500
_TEXT = {"type": "string", "maxLength": MAX_TEXT, "pattern": "^[^\\u0000]*$"}
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
MAX_IDS = 500
_IDS = {"type": "array", "minItems": 1, "maxItems": MAX_IDS, "uniqueItems": True, "items": _ID}
# A credential value: printable ASCII without spaces, as every source's keys, tokens and tags are.
CREDENTIAL_PATTERN = "^[!-~]{1,2000}$"
_COUNTS = ("offers_added", "offers_changed", "offers_missing",
           "products_added", "products_changed", "products_missing")


def _schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict, description: str) -> dict:
    return {"required": True, "description": description,
            "content": {"application/json": {"schema": schema}}}


_ERROR = {"$ref": "#/components/responses/AdminError"}
_PATH_PARAMETERS = {
    "name": {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": PROVIDER_NAME_PATTERN},
             "description": "The provider's name, as in [providers.<name>]."},
    "film": {"name": "film", "in": "path", "required": True, "schema": openapi.FILM_REF,
             "description": "The film: 17, tmdb:451 or imdb:tt0113627.", "example": "tmdb:451"},
    "endpoint_id": {"name": "endpoint_id", "in": "path", "required": True,
                    "schema": _ID,
                    "description": "A webhook's id."},
    "delivery_id": {"name": "delivery_id", "in": "path", "required": True,
                    "schema": _ID,
                    "description": "A delivery's id (from the webhook's log)."},
    "link_id": {"name": "link_id", "in": "path", "required": True, "schema": _ID,
                "description": "A product link's id (from the film's `products`)."},
}


def _operation(operation_id: str, summary: str, responses: dict, parameters: tuple[str, ...] = (),
               body: dict | None = None, query: list | None = None) -> dict:
    operation = {
        "operationId": operation_id, "summary": summary, "tags": ["admin"],
        "security": [{"adminToken": []}],
        "parameters": [{"$ref": f"#/components/parameters/admin_{name}"} for name in parameters]
        + (query or []),
        "responses": {**responses, "401": _ERROR},
    }
    if body is not None:
        operation["requestBody"] = body
    if parameters or query or body is not None:
        operation["responses"].setdefault("400", _ERROR)
    if parameters:
        operation["responses"].setdefault("404", _ERROR)
    return operation


COMPONENTS = {
    "securitySchemes": {
        "adminToken": {"type": "http", "scheme": "bearer",
                       "description": "An admin API token from `affiliate admin create-token NAME` "
                                      "or the console's API tokens page."},
    },
    "parameters": {f"admin_{name}": parameter for name, parameter in _PATH_PARAMETERS.items()},
    "responses": {
        "AdminError": _json(_schema("AdminError"), "The reason, e.g. a malformed value, an unknown "
                                                   "film or a missing token; nothing was changed."),
    },
    "schemas": {
        "AdminError": openapi.closed({"error": _STRING}),
        "CredentialField": openapi.closed({
            "name": _STRING, "label": _STRING, "secret": {"type": "boolean"},
            "how_to_obtain": _STRING,
            "source": {"type": "string", "enum": ["environment", "stored", "config", "missing"]},
            "masked": {"type": "string", "description": "A secret's last characters at most."},
            "env_var": _STRING,
        }),
        "CredentialsStatus": openapi.closed({
            "fields": {"type": "array", "items": _schema("CredentialField")},
            "readable": {"type": "boolean"}, "state": _STRING, "checked_at": _TIME,
            "ok": {"type": ["boolean", "null"]},
        }),
        "AdminProvider": openapi.closed({
            "name": _STRING, "type": _STRING, "description": _STRING, "enabled": {"type": "boolean"},
            "state": _STRING, "healthy": {"type": "boolean"}, "refreshing": {"type": "boolean"},
            "last_success_at": _TIME, "last_error_at": _TIME, "last_error_kind": openapi.NULLABLE_STRING,
            "last_error": openapi.NULLABLE_STRING, "next_run": _TIME, "next_run_text": _STRING,
            "films_due": _NULLABLE_INT, "quota_left": _NULLABLE_INT,
            "quota_period": openapi.NULLABLE_STRING, "breaker_state": _STRING,
            "notes": {"type": "array", "items": _STRING},
            "credentials": {"oneOf": [{"type": "null"}, _schema("CredentialsStatus")]},
        }),
        "CheckResult": openapi.closed({"ok": {"type": "boolean"}, "message": _STRING}),
        "RefreshStarted": openapi.closed({"started": {"type": "boolean"},
                                          "films_made_due": {"type": "integer"}}),
        "RefreshRunning": openapi.closed({"error": _STRING, "films_made_due": {"type": "integer"}}),
        "RunReport": openapi.closed({
            "provider": _STRING,
            "status": {"type": "string",
                       "enum": ["complete", "partial", "quarantined", "failed", "skipped"]},
            "error": openapi.NULLABLE_STRING, "summary": _STRING, "quarantined": openapi.NULLABLE_STRING,
            "warning": openapi.NULLABLE_STRING,
            "problems": {"type": "array", "items": _STRING},
            **{name: {"type": "integer"} for name in _COUNTS},
        }),
        "AdminFilm": openapi.closed({
            "id": {"type": "integer"}, "ref": _STRING,
            "title": {"type": "string", "description": "Empty until a source names the film."},
            "year": _NULLABLE_INT, "imdb_id": openapi.NULLABLE_STRING, "tmdb_id": _NULLABLE_INT,
            "visible_offers": {"type": "integer"}, "product_links": {"type": "integer"},
        }),
        "AdminOffer": openapi.closed({
            "id": {"type": "integer"}, "platform": _STRING, "region": _STRING, "kind": _STRING,
            "quality": _STRING, "price": _PRICE, "currency": openapi.NULLABLE_STRING, "link": openapi.NULLABLE_STRING,
            "deep_link": {"type": "boolean"},
            "expires_on": {"type": ["string", "null"], "format": "date"}, "source": _STRING,
            "first_seen": _TIME, "last_seen": _TIME, "last_checked": _TIME,
            "missing_count": {"type": "integer"}, "hidden": {"type": "boolean"},
        }, "One source's offer as stored, hidden ones included."),
        "ProductLink": openapi.closed({
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["approved", "candidate", "rejected"]},
            "relation": _STRING, "position": _NULLABLE_INT, "pinned": {"type": "boolean"},
            "hidden": {"type": "boolean"}, "title": _STRING, "format": _STRING, "merchant": _STRING,
            "merchant_id": _STRING, "region": _STRING, "price": _PRICE,
            "currency": openapi.NULLABLE_STRING, "source": _STRING,
            "origin": {"type": "string", "enum": ["curated", "discovered"]}, "link": openapi.NULLABLE_STRING,
            "gtin": openapi.NULLABLE_STRING, "product_source": _STRING, "product_hidden": {"type": "boolean"},
            "image_url": openapi.NULLABLE_STRING, **_MATCH,
        }, "A product shown (or proposed) with a film, and the operator's choices about it."),
        "AdminFilmDetail": openapi.closed({
            "id": {"type": "integer"}, "ref": _STRING, "title": _STRING, "year": _NULLABLE_INT,
            "imdb_id": openapi.NULLABLE_STRING, "tmdb_id": _NULLABLE_INT,
            "visible_offers": {"type": "integer"}, "product_links": {"type": "integer"},
            "runtime_minutes": _NULLABLE_INT, "director": openapi.NULLABLE_STRING,
            "revision": {"type": "integer"},
            "external_ids": {"type": "object", "additionalProperties": _STRING},
            "offers": {"type": "array", "items": _schema("AdminOffer")},
            "products": {"type": "array", "items": _schema("ProductLink")},
        }),
        "ReviewLink": openapi.closed({
            "link_id": {"type": "integer"},
            "status": {"type": "string", "enum": ["approved", "candidate", "rejected"]},
            "relation": {"type": "string", "enum": [r.value for r in Relation]},
            **_MATCH, "film_ref": _STRING, "film_title": _STRING, "film_year": _NULLABLE_INT,
            "product_title": openapi.NULLABLE_STRING, "product_format": openapi.NULLABLE_STRING,
            "merchant": _STRING, "merchant_id": _STRING, "region": _STRING, "price": _PRICE,
            "currency": openapi.NULLABLE_STRING, "image_url": openapi.NULLABLE_STRING, "link": openapi.NULLABLE_STRING,
        }, "A product proposed for a film (or decided), with the film and the match's score."),
        "Webhook": openapi.closed({
            "id": {"type": "integer"}, "url": _STRING, "description": _STRING,
            "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_KINDS)}},
            "regions": {"type": "array", "items": _STRING},
            "platforms": {"type": "array", "items": _STRING},
            "films": {"type": "array", "items": _STRING},
            "state": {"type": "string", "enum": ["active", "paused", "gone"]},
            "state_reason": openapi.NULLABLE_STRING, "state_changed_at": _TIME, "created_at": _TIME,
            "pending": {"type": "integer"}, "delivered": {"type": "integer"}, "failed": {"type": "integer"},
        }, "An endpoint that receives signed availability events (Standard Webhooks)."),
        "WebhookDelivery": openapi.closed({
            "id": {"type": "integer"},
            "message_id": {"type": "string", "description": "The webhook-id header; the same on every retry."},
            "event": {"type": "string", "enum": list(EVENT_KINDS)},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"}, "created_at": _TIME, "last_attempt_at": _TIME,
            "next_attempt_at": _TIME, "delivered_at": _TIME, "last_status": _NULLABLE_INT,
            "last_error": openapi.NULLABLE_STRING,
        }),
        "ClickReport": openapi.closed({
            "since": {"type": "string", "format": "date"}, "until": {"type": "string", "format": "date"},
            "total": {"type": "integer"},
            "by_platform": {"type": "array", "items": openapi.closed({
                "day": {"type": "string", "format": "date"}, "platform": _STRING,
                "clicks": {"type": "integer"}})},
            "by_region": {"type": "array", "items": openapi.closed({
                "day": {"type": "string", "format": "date"}, "region": _STRING,
                "clicks": {"type": "integer"}})},
            "top_films": {"type": "array", "items": openapi.closed({
                "film_id": {"type": "integer"}, "ref": _STRING, "title": _STRING,
                "year": _NULLABLE_INT, "clicks": {"type": "integer"}})},
        }),
    },
}

_REPORTS = {"type": "array", "items": _schema("RunReport")}
_SCORE = {"type": "number", "minimum": 0, "maximum": 1}
_REVIEW_FILTER = {
    "relation": {"type": "string", "enum": [r.value for r in Relation]},
    "merchant": {**_TEXT, "minLength": 1, "description": "As products name it (Amazon, Apple Music)."},
    "min_score": _SCORE, "max_score": _SCORE,
    "film": openapi.FILM_REF,
    "status": {"type": "string", "enum": ["approved", "candidate", "rejected"], "default": "candidate"},
}
_REVIEW_QUERY = [{"name": name, "in": "query", "required": False, "schema": schema}
                 for name, schema in {**_REVIEW_FILTER,
                                      "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                                      "offset": {"type": "integer", "minimum": 0, "maximum": MAX_ID,
                                                 "default": 0}}.items()]
# What POST /films adds: a film by its TMDB or IMDb id (an internal id names a film already stored).
_NEW_FILM = {"type": "string", "pattern": f"^(?:tmdb:{decimal_pattern(MAX_ID)}|imdb:tt[0-9]{{7,10}})$",
             "maxLength": 17, "example": "tmdb:603",
             "description": "add a film by its TMDB or IMDb id: tmdb:451 or imdb:tt0113627 "
                            "(ids 1 to 2147483647)"}
_CREDENTIALS = {"anyOf": [
    {"title": type_name, "type": "object", "minProperties": 1, "additionalProperties": False,
     "properties": {field.name: {"type": "string", "pattern": CREDENTIAL_PATTERN,
                                 "description": field.how_to_obtain} for field in cls.credentials}}
    for type_name, cls in sorted(all_types().items()) if cls.credentials]}
_LINKS = openapi.closed({"links": {"type": "array", "items": _schema("ProductLink")}})
_DATE_QUERY = [{"name": name, "in": "query", "required": False, "description": description,
                "schema": {"type": "string", "format": "date"}}
               for name, description in (("since", "First UTC day (default: 29 days before until)."),
                                         ("until", "Last UTC day (default: today)."))]

PATHS = {
    f"{PREFIX}/providers": {"get": _operation(
        "adminListProviders", "Every configured provider's health and credentials' status",
        {"200": _json(openapi.closed({"providers": {"type": "array", "items": _schema("AdminProvider")}}),
                      "Providers in configured order")})},
    f"{PREFIX}/providers/{{name}}": {"get": _operation(
        "adminGetProvider", "One provider's health and credentials' status",
        {"200": _json(_schema("AdminProvider"), "The provider")}, ("name",))},
    f"{PREFIX}/providers/{{name}}/credentials": {
        "put": _operation(
            "adminSaveCredentials", "Store credentials (encrypted) and test them with one call",
            {"200": _json(_schema("CheckResult"), "Stored; `ok` says whether the source accepted them")},
            ("name",), _body(_CREDENTIALS, "Field name to value, the fields of the provider's type "
                                           "(a 400 names the ones it has); fields left out keep "
                                           "their value.")),
        "delete": _operation(
            "adminDeleteCredentials", "Forget the stored credentials (config and environment stay)",
            {"204": {"description": "Deleted"}}, ("name",)),
    },
    f"{PREFIX}/providers/{{name}}/credentials/check": {"post": _operation(
        "adminCheckCredentials", "Test the provider's credentials with one cheap call",
        {"200": _json(_schema("CheckResult"), "What the source said")}, ("name",))},
    f"{PREFIX}/providers/{{name}}/refresh": {"post": _operation(
        "adminRefreshProvider", "Make every film due now and start a run in the background",
        {"202": _json(_schema("RefreshStarted"), "Started"),
         "409": _json(_schema("RefreshRunning"), "A run started here is still going")}, ("name",))},
    f"{PREFIX}/films": {
        "get": _operation(
            "adminSearchFilms", "Films whose title contains q, or the film q names",
            {"200": _json(openapi.closed({"films": {"type": "array", "items": _schema("AdminFilm")}}),
                          "At most 50 films")},
            query=[{"name": "q", "in": "query", "required": False, "schema": _TEXT,
                    "description": "Part of a title, or a film reference."}]),
        "post": _operation(
            "adminAddFilm", "Add a film by TMDB or IMDb id and refresh it from every provider",
            {"201": _json(openapi.closed({"film": _schema("AdminFilmDetail"), "created": {"type": "boolean"},
                                   "refresh": _REPORTS}), "Added"),
             "200": _json(openapi.closed({"film": _schema("AdminFilmDetail"), "created": {"type": "boolean"},
                                   "refresh": _REPORTS}), "The film was in the catalog already")},
            body=_body(openapi.closed({"film": _NEW_FILM,
                                "refresh": {"type": "boolean", "default": True}}) | {"required": ["film"]},
                       "The film's reference; refresh false only adds it.")),
    },
    f"{PREFIX}/films/{{film}}": {"get": _operation(
        "adminGetFilm", "Everything stored about a film: every offer with its source, every product link",
        {"200": _json(_schema("AdminFilmDetail"), "The film")}, ("film",))},
    f"{PREFIX}/films/{{film}}/refresh": {"post": _operation(
        "adminRefreshFilm", "Refresh the film from every enabled provider now",
        {"200": _json(openapi.closed({"refresh": _REPORTS, "film": _schema("AdminFilmDetail")}),
                      "What each provider did, and the film after it")}, ("film",))},
    f"{PREFIX}/films/{{film}}/products": {"post": _operation(
        "adminLinkProduct", "Link a product to the film by ASIN, GTIN or URL (approved and shown)",
        {"201": _json(_LINKS, "The links made (a GTIN links every stored product with it)")},
        ("film",), _body({
            "type": "object", "additionalProperties": False,
            "oneOf": [{"required": ["asin"]}, {"required": ["gtin"]}, {"required": ["url"]}],
            "properties": {
                "asin": {"type": "string", "pattern": "^[A-Za-z0-9]{10}$",
                         "description": "is not an ASIN: ten letters and digits, as B000FQJAIA"},
                "gtin": {"type": "string", "pattern": "^(?:[0-9]{8}|[0-9]{12,14})$",
                         "description": "is not a GTIN: 8, 12, 13 or 14 digits"},
                "url": {"type": "string", "maxLength": 2000, "pattern": "^https?://[^\\s\\u0000]+$",
                        "description": "an http(s) URL of at most 2000 characters"},
                "title": {**_TEXT, "description": "For a product not stored yet"},
                "format": {"type": "string", "enum": [f.value for f in ProductFormat]},
                "relation": {"type": "string", "enum": [r.value for r in Relation], "default": "edition"},
                "region": {**openapi.REGION, "description": "Default: service.default_region"},
            }}, "Exactly one of asin, gtin or url."))},
    f"{PREFIX}/films/{{film}}/products/{{link_id}}": {"patch": _operation(
        "adminChangeLink", "Approve, reject, pin or hide one of the film's product links",
        {"200": _json(_schema("ProductLink"), "The link after the change")}, ("film", "link_id"),
        _body({"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
            "status": {"type": "string", "enum": ["approved", "candidate", "rejected"]},
            "pinned": {"type": "boolean"}, "hidden": {"type": "boolean"}}}, "What to change."))},
    f"{PREFIX}/films/{{film}}/products/order": {"put": _operation(
        "adminOrderLinks", "Show these links first, in this order (each is pinned at its place)",
        {"200": _json(_LINKS, "Every link of the film, as the console lists them")}, ("film",),
        _body(openapi.closed({"links": _IDS}),
              "The film's link ids in the order to show them."))},
    f"{PREFIX}/review": {
        "get": _operation(
            "adminReviewLinks", "Product links across every film, best match first, with scores and reasons",
            {"200": _json(openapi.closed({"total": {"type": "integer"}, "offset": {"type": "integer"},
                                          "limit": {"type": "integer"},
                                          "links": {"type": "array", "items": _schema("ReviewLink")}}),
                          "One page, and how many links the filter chooses in all"),
             "400": _ERROR, "404": _ERROR}, query=_REVIEW_QUERY),
        "post": _operation(
            "adminDecideLinks", "Approve or reject many links: the ids named, or every link a filter chooses",
            {"200": _json(openapi.closed({"decided": {"type": "integer"}}), "How many links were decided"),
             "404": _ERROR},
            body=_body({"type": "object", "additionalProperties": False, "required": ["status"],
                        "oneOf": [{"required": ["links"]}, {"required": ["filter"]}],
                        "properties": {
                            "status": {"type": "string", "enum": ["approved", "rejected"]},
                            "links": _IDS,
                            "filter": {"type": "object", "additionalProperties": False,
                                       "properties": _REVIEW_FILTER}}},
                       "All or nothing: an unknown link id changes nothing.")),
    },
    f"{PREFIX}/webhooks": {
        "get": _operation(
            "adminListWebhooks", "Every webhook endpoint with its filters, state and delivery counts",
            {"200": _json(openapi.closed({"webhooks": {"type": "array", "items": _schema("Webhook")}}),
                          "Endpoints, oldest first")}),
        "post": _operation(
            "adminAddWebhook", "Register an endpoint; its signing secret is in this answer only",
            {"201": _json(openapi.closed({"webhook": _schema("Webhook"), "secret": {
                "type": "string", "pattern": "^whsec_", "description": "Shown once; verify signatures with it."}}),
                "Registered")},
            body=_body({"type": "object", "additionalProperties": False, "required": ["url", "events"],
                        "properties": {
                            "url": {"type": "string", "format": "uri", "maxLength": 2000,
                                    "description": "https, public address (unless allow_local_endpoints)."},
                            "events": {"type": "array", "minItems": 1, "maxItems": 5, "uniqueItems": True,
                                       "items": {"type": "string", "enum": list(EVENT_KINDS)}},
                            "regions": {"type": "array", "maxItems": 100,
                                        "items": {"type": "string", "pattern": "^[A-Za-z]{2}$"}},
                            "platforms": {"type": "array", "maxItems": 100, "items": _STRING},
                            "films": {"type": "array", "maxItems": 100, "items": _STRING},
                            "description": {"type": "string", "maxLength": 200}}},
                       "Where to send which events; empty filters choose everything.")),
    },
    f"{PREFIX}/webhooks/{{endpoint_id}}": {
        "get": _operation(
            "adminGetWebhook", "One endpoint and its last 100 deliveries, newest first",
            {"200": _json(openapi.closed({"webhook": _schema("Webhook"), "deliveries": {
                "type": "array", "items": _schema("WebhookDelivery")}}), "The endpoint and its log")},
            ("endpoint_id",)),
        "delete": _operation("adminRemoveWebhook", "Delete an endpoint and its delivery log",
                             {"204": {"description": "Deleted"}}, ("endpoint_id",)),
    },
    f"{PREFIX}/webhooks/{{endpoint_id}}/resume": {"post": _operation(
        "adminResumeWebhook", "Deliver again to a paused or gone endpoint",
        {"200": _json(_schema("Webhook"), "The endpoint, active")}, ("endpoint_id",))},
    f"{PREFIX}/webhooks/{{endpoint_id}}/deliveries/{{delivery_id}}/send-again": {"post": _operation(
        "adminSendDeliveryAgain", "Queue a delivery again, under its same message id",
        {"200": _json(_schema("WebhookDelivery"), "The delivery, pending")}, ("endpoint_id", "delivery_id"))},
    f"{PREFIX}/clicks": {"get": _operation(
        "adminClicks", "Clicks per day by platform and by region, and the top films",
        {"200": _json(_schema("ClickReport"), "The report"), "400": _ERROR}, query=_DATE_QUERY)},
}

openapi.register(PATHS, COMPONENTS)


def body_schema(path: str, method: str) -> dict:
    """The request body's schema of one operation (`path` below PREFIX), for the API to check
    bodies against the very schema the document shows."""
    return PATHS[PREFIX + path][method]["requestBody"]["content"]["application/json"]["schema"]
