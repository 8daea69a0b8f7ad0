"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

This module describes the public films API; other modules add their own paths (and the
components those use) with `register`, once, when they are imported. The response schemas
close every object (no additional properties), and the tests check real answers against
them, so the document cannot drift from what the API sends.
"""
from __future__ import annotations

import copy
from importlib.metadata import PackageNotFoundError, version

from affiliate.widgets import LAYOUTS
from providers.base import FILM_REF_PATTERN, OfferKind, ProductFormat, Relation
from providers.regions import COUNTRIES, LOCALE_PATTERN

NULLABLE_STRING = {"type": ["string", "null"]}
# A film reference, exactly as FilmKey.parse reads it; ids run from 1 to 2**31 - 1.
FILM_REF = {"type": "string", "pattern": FILM_REF_PATTERN, "maxLength": 17,
            "description": "The film: its internal id (17), tmdb:451 or imdb:tt0113627."}
# A country the service knows (ISO 3166-1 alpha-2); lower case is read too.
REGION = {"type": "string", "enum": sorted(COUNTRIES)}


def closed(properties: dict, description: str | None = None) -> dict:
    """An object schema that lists every property the service sends, and allows no other."""
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _filter(name: str, values: list[str], description: str) -> dict:
    return {
        "name": name, "in": "query", "required": False, "style": "form", "explode": True,
        "description": description + " Repeat the parameter or separate values with commas; "
                                     f"an unknown or empty value, or more than {len(values)} "
                                     "values, is a 400.",
        "schema": {"type": "array", "items": {"type": "string", "enum": values},
                   "minItems": 1, "maxItems": len(values)},
    }


_PRICE_FIELDS = {
    "price": {"type": ["string", "null"], "pattern": r"^\d+(\.\d+)?$",
              "description": "The amount as a decimal string (\"3.99\"), never a float."},
    "currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$",
                 "description": "ISO 4217."},
    "formatted": {**NULLABLE_STRING, "description": "The price as the locale writes it."},
}

_FILMS_COMPONENTS: dict = {
    "parameters": {
        "film": {"name": "film", "in": "path", "required": True,
                 "description": FILM_REF["description"], "schema": FILM_REF,
                 "example": "imdb:tt0113627"},
        "region": {"name": "region", "in": "query", "required": False,
                   "description": "ISO 3166-1 alpha-2 country. Absent: the trusted country "
                                  "header, else Accept-Language's country, else the default. "
                                  "Empty is a 400.",
                   "schema": REGION, "example": "GB"},
        "locale": {"name": "locale", "in": "query", "required": False,
                   "description": "Locale for text, names and prices (en_US, de-DE, es): one "
                                  "the CLDR knows, else a 400. Absent: the best Accept-Language "
                                  "match, else the default. Empty is a 400.",
                   "schema": {"type": "string", "pattern": LOCALE_PATTERN, "maxLength": 30,
                              "format": "locale"},
                   "example": "en_GB"},
        "layout": {"name": "layout", "in": "query", "required": False,
                   "description": "The widgets' layout, taken here too so one "
                                  "query string serves every mode; the data is the same for "
                                  "both. An unknown value is a 400.",
                   "schema": {"type": "string", "enum": list(LAYOUTS), "default": LAYOUTS[0]}},
        "kind": _filter("kind", [kind.value for kind in OfferKind], "Only these kinds of offer."),
        "format": _filter("format", [f.value for f in ProductFormat], "Only these formats."),
        "relation": _filter("relation", [r.value for r in Relation],
                            "Only products related to the film in these ways."),
    },
    "headers": {
        "ETag": {"description": "Weak validator; send it back as If-None-Match for a 304.",
                 "schema": {"type": "string"}},
        "Cache-Control": {"description": "public, max-age, s-maxage, stale-while-revalidate "
                                         "(the `[http]` settings).",
                          "schema": {"type": "string"}},
        "Vary": {"description": "Accept-Language and the trusted country header, when the "
                                "region or locale was not given.",
                 "schema": {"type": "string"}},
    },
    "responses": {
        "NotModified": {"description": "The If-None-Match ETag is current."},
        "BadParameter": {"description": "A malformed parameter; the error names it.",
                         "content": {"application/json": {"schema": _ref("schemas", "Error")}}},
        "FilmNotFound": {"description": "The catalog holds no such film.",
                         "content": {"application/json": {"schema": _ref("schemas", "Error")}}},
    },
    "schemas": {
        "Error": closed({"error": {"type": "string"}}),
        "Film": closed({
            "id": {"type": "integer"}, "ref": {"type": "string"}, "title": {"type": "string"},
            "year": {"type": ["integer", "null"]}, "imdb_id": NULLABLE_STRING,
            "tmdb_id": {"type": ["integer", "null"]},
        }),
        "Price": closed(_PRICE_FIELDS),
        "Attribution": closed({"text": {"type": "string"}, "url": {"type": "string"}},
                               "A credit the source's terms require wherever its data shows."),
        "QualityOffer": closed({"quality": {"type": "string"}, **_PRICE_FIELDS}),
        "Platform": closed({
            "name": {"type": "string"}, "slug": {"type": "string"},
            "logo_url": NULLABLE_STRING, "link": {"type": "string"},
            "lowest_price": _ref("schemas", "Price"),
            "offers": {"type": "array", "items": _ref("schemas", "QualityOffer")},
        }),
        "OfferGroup": closed({
            "kind": {"type": "string", "enum": [kind.value for kind in OfferKind]},
            "label": {"type": "string"},
            "platforms": {"type": "array", "items": _ref("schemas", "Platform"),
                          "description": "Rent and buy: cheapest first; else by name."},
        }),
        "Offers": closed({
            "film": _ref("schemas", "Film"), "region": {"type": "string"},
            "region_name": {"type": "string"},
            "groups": {"type": "array", "items": _ref("schemas", "OfferGroup")},
            "sources": {"type": "array", "items": {"type": "string"}},
            "attributions": {"type": "array", "items": _ref("schemas", "Attribution")},
            "disclosures": {"type": "array", "items": {"type": "string"}},
        }),
        "Product": closed({
            "title": {"type": "string"},
            "format": {"type": "string", "enum": [f.value for f in ProductFormat]},
            "format_label": {"type": "string"},
            "relation": {"type": "string", "enum": [r.value for r in Relation]},
            "image_url": NULLABLE_STRING, **_PRICE_FIELDS,
            "merchant": {"type": "string"}, "availability": {"type": "string"},
            "link": {"type": "string"},
            "price_as_of": {**NULLABLE_STRING,
                            "description": "When the price was read, where the source's "
                                           "rules want it shown."},
        }),
        "Products": closed({
            "film": _ref("schemas", "Film"), "region": {"type": "string"},
            "region_name": {"type": "string"},
            "products": {"type": "array", "items": _ref("schemas", "Product")},
            "sources": {"type": "array", "items": {"type": "string"}},
            "attributions": {"type": "array", "items": _ref("schemas", "Attribution")},
            "disclosures": {"type": "array", "items": {"type": "string"}},
        }),
    },
}


def _films_operation(operation_id: str, summary: str, schema: str, filters: list[str]) -> dict:
    ok_headers = {name: _ref("headers", name) for name in ("ETag", "Cache-Control", "Vary")}
    return {"get": {
        "operationId": operation_id, "summary": summary, "tags": ["films"],
        "parameters": [_ref("parameters", name)
                       for name in ("film", "region", "locale", "layout", *filters)],
        "responses": {
            "200": {"description": summary, "headers": ok_headers,
                    "content": {"application/json": {"schema": _ref("schemas", schema)}}},
            "304": _ref("responses", "NotModified"),
            "400": _ref("responses", "BadParameter"),
            "404": _ref("responses", "FilmNotFound"),
        },
    }}


_FILMS_PATHS = {
    "/api/v1/films/{film}/offers": _films_operation(
        "getOffers", "Where the film can be watched in the region, grouped by kind",
        "Offers", ["kind"]),
    "/api/v1/films/{film}/products": _films_operation(
        "getProducts", "Products related to the film in the region, in display order",
        "Products", ["format", "relation"]),
    "/api/v1/openapi.json": {"get": {
        "operationId": "getOpenApi", "summary": "This document", "tags": ["meta"],
        "responses": {"200": {"description": "The OpenAPI 3.1 document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
}

_paths: dict = {}
_components: dict = {}


def register(paths: dict, components: dict | None = None) -> None:
    """Add paths (and the components they refer to) to the document; a path or component
    that is already described is refused, so two modules cannot silently overwrite each
    other."""
    taken = [path for path in paths if path in _paths]
    for kind, entries in (components or {}).items():
        taken += [f"components/{kind}/{name}" for name in entries
                  if name in _components.get(kind, {})]
    if taken:
        raise ValueError(f"already described in the OpenAPI document: {', '.join(taken)}")
    _paths.update(copy.deepcopy(paths))
    for kind, entries in (components or {}).items():
        _components.setdefault(kind, {}).update(copy.deepcopy(entries))


def document(server_url: str) -> dict:
    """The whole document; `server_url` is where /api/v1 is mounted (a host app's prefix)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "film-affiliate API",
            "version": _package_version(),
            "description": "Offers and related products per film and region, as the widgets "
                           "show them. Public, read-only, cacheable (ETag, Cache-Control) and "
                           "readable from any origin. See docs/embedding.md.",
        },
        "servers": [{"url": server_url}],
        "paths": copy.deepcopy(_paths),
        "components": copy.deepcopy(_components),
    }


def _package_version() -> str:
    try:
        return version("film-affiliate")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+checkout"


register(_FILMS_PATHS, _FILMS_COMPONENTS)
