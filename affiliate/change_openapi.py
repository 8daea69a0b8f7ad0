"""The OpenAPI description of the lists of availability changes and their Atom feeds, added
to the public document (affiliate.openapi) once, when the routes are imported."""
from __future__ import annotations

from affiliate import openapi
from affiliate.change_events import EVENT_KINDS, OFFER_KINDS
from affiliate.change_lists import LISTS
from affiliate.openapi import NULLABLE_STRING, closed

_STRING = {"type": "string"}


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _many(name: str, values: list[str] | None, description: str) -> dict:
    items = {"type": "string", **({"enum": values} if values else {})}
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": True,
            "description": description + " Repeat the parameter or separate values with "
                                         "commas; an unknown value is a 400.",
            "schema": {"type": "array", "items": items}}


_COMPONENTS = {
    "parameters": {
        "changesList": {"name": "list_name", "in": "path", "required": True,
                        "description": "new: offers that appeared or came back; leaving: "
                                       "offers whose last day is near; price-drops: lowered "
                                       "prices still in force.",
                        "schema": {"type": "string", "enum": list(LISTS)}},
        "changesPlatform": _many("platform", None, "Only these platforms (slugs)."),
        "changesKind": _many("kind", list(OFFER_KINDS), "Only these kinds of offer."),
        "changesDays": {"name": "days", "in": "query", "required": False,
                        "description": "The last (leaving: the next) this many days, today "
                                       "included; at most `changes.max_days` (leaving: also "
                                       "`changes.leaving_days`), else a 400. Absent: "
                                       "`changes.default_days`.",
                        "schema": {"type": "integer", "minimum": 1}},
        "changesEvent": _many("event", list(EVENT_KINDS), "Only these changes."),
        "feedRegion": _many("region", openapi.REGION["enum"], "Only these countries (ISO 3166-1 alpha-2)."),
    },
    "schemas": {
        "ChangePrice": {"oneOf": [{"type": "null"}, closed({
            "price": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "formatted": _STRING})]},
        "ChangeEntry": closed({
            "event": {"type": "string", "enum": list(EVENT_KINDS)},
            "event_ids": {"type": "array", "items": {"type": "integer"},
                          "description": "The offer events the entry stands for (one per "
                                         "quality or source); the feeds' entries are these."},
            "film": closed({
                "id": {"type": "integer"}, "ref": _STRING, "title": _STRING,
                "year": {"type": ["integer", "null"]}, "imdb_id": NULLABLE_STRING,
                "tmdb_id": {"type": ["integer", "null"]}, "poster_url": NULLABLE_STRING,
                "page_url": {**NULLABLE_STRING,
                             "description": "The film's page on this site (changes.film_url)."},
            }),
            "platform": closed({"name": _STRING, "slug": _STRING, "logo_url": NULLABLE_STRING}),
            "kind": {"type": "string", "enum": list(OFFER_KINDS)},
            "text": _STRING,
            "link": {**_STRING, "description": "The platform's page, with the site's tags."},
            "price": _ref("schemas", "ChangePrice"),
            "price_before": _ref("schemas", "ChangePrice"),
        }),
        "Changes": closed({
            "list": {"type": "string", "enum": list(LISTS)}, "region": _STRING,
            "region_name": _STRING,
            "start": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date"},
            "days": {"type": "array", "description": "Newest day first (leaving: soonest).",
                     "items": closed({"date": {"type": "string", "format": "date"},
                                      "label": _STRING,
                                      "entries": {"type": "array",
                                                  "items": _ref("schemas", "ChangeEntry")}})},
            "sources": {"type": "array", "items": _STRING},
            "attributions": {"type": "array", "items": _ref("schemas", "Attribution")},
            "disclosures": {"type": "array", "items": _STRING},
        }),
    },
}

_OK_HEADERS = {name: _ref("headers", name) for name in ("ETag", "Cache-Control", "Vary")}
_ATOM = {"application/atom+xml": {"schema": {"type": "string"}}}
_PATHS = {
    "/api/v1/changes/{list_name}": {"get": {
        "operationId": "getChanges", "tags": ["changes"],
        "summary": "What's new, leaving soon or cheaper across the catalog, by day",
        "parameters": [_ref("parameters", name) for name in (
            "changesList", "region", "locale", "changesPlatform", "changesKind", "changesDays")],
        "responses": {
            "200": {"description": "The list", "headers": _OK_HEADERS,
                    "content": {"application/json": {"schema": _ref("schemas", "Changes")}}},
            "304": _ref("responses", "NotModified"),
            "400": _ref("responses", "BadParameter"),
            "404": {"description": "No list of that name.",
                    "content": {"application/json": {"schema": closed({"error": _STRING})}}},
        },
    }},
    "/feeds/changes.atom": {"get": {
        "operationId": "getChangesFeed", "tags": ["changes"],
        "summary": "Atom feed of changes across the catalog, newest first; entry ids are "
                   "stable, `updated` is when the change happened",
        "parameters": [_ref("parameters", name) for name in (
            "feedRegion", "changesPlatform", "changesKind", "changesEvent", "changesDays")] + [
            _ref("parameters", "locale")],
        "responses": {"200": {"description": "An Atom 1.0 feed (RFC 4287)",
                              "headers": _OK_HEADERS, "content": _ATOM},
                      "304": _ref("responses", "NotModified"),
                      "400": {"description": "A malformed parameter; the text names it.",
                              "content": {"text/plain": {"schema": _STRING}}}},
    }},
    "/feeds/films/{film}.atom": {"get": {
        "operationId": "getFilmFeed", "tags": ["changes"],
        "summary": "Atom feed of changes to one film's offers, newest first",
        "parameters": [_ref("parameters", "film"), _ref("parameters", "feedRegion"),
                       _ref("parameters", "locale")],
        "responses": {"200": {"description": "An Atom 1.0 feed (RFC 4287)",
                              "headers": _OK_HEADERS, "content": _ATOM},
                      "304": _ref("responses", "NotModified"),
                      "400": {"description": "A malformed parameter; the text names it.",
                              "content": {"text/plain": {"schema": _STRING}}},
                      "404": {"description": "The catalog holds no such film.",
                              "content": {"text/plain": {"schema": _STRING}}}},
    }},
}


def register_paths() -> None:
    openapi.register(_PATHS, _COMPONENTS)
