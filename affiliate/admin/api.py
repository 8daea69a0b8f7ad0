"""The admin JSON API (/admin/api/v1): the console's actions for scripts, authenticated by
`Authorization: Bearer <token>` (tokens from `affiliate admin create-token` or the console).

Errors are `{"error": "<reason>"}` with 400 (malformed input), 401 (no or a bad token), 404
(no such film, provider or link) or 409 (a refresh is already running). No cookie is read
here, so a browser cannot be tricked into calling it (no CSRF token needed). The paths are
described in the service's OpenAPI document (see `api_spec`).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from decimal import Decimal

from flask import Blueprint, g, jsonify, request
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException

from affiliate import credentials, curation, review_queue
from affiliate.admin import api_spec, auth, click_report, films, provider_status
from affiliate.admin.state import admin_state
from affiliate.admin.work import is_not_found, summary
from affiliate.refresh import RunReport
from affiliate.state import state
from affiliate.webhooks import endpoints
from providers.base import MAX_ID
from providers.regions import normalize_region

bp = Blueprint("affiliate_admin_api", __name__)

class ApiError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@bp.before_request
def _authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    token = auth.token_for(state().db, secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        response = jsonify(error="send a valid API token as `Authorization: Bearer <token>` "
                                 "(create one with `affiliate admin create-token NAME`)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="affiliate-admin"'
        return response, 401
    g.api_token = token
    return None


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify(error=str(exc)), exc.status


@bp.errorhandler(LookupError)
def _not_found(exc: LookupError):
    if not is_not_found(exc):
        raise exc
    return jsonify(error=_message(exc)), 404


@bp.errorhandler(ValueError)
def _bad_input(exc: ValueError):
    return jsonify(error=_message(exc)), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify(error=exc.description), exc.code


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def _body(path: str | None = None) -> dict:
    """The JSON object sent; with `path`, checked against that operation's body schema in the
    OpenAPI document (types, bounds, no unknown property), the first mistake named."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("send a JSON object with Content-Type: application/json")
    if path is not None:
        schema = api_spec.body_schema(path, request.method.lower())
        error = next(iter(sorted(Draft202012Validator(schema).iter_errors(body),
                                 key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            raise ApiError(_schema_error(error))
    return body


def _schema_error(error) -> str:
    """Where a body breaks its schema and which rule, never the value sent (it may be a secret)."""
    where = ".".join(str(part) for part in error.absolute_path) or "body"
    names = ", ".join(error.schema.get("properties", {}))
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown {'property' if len(unknown) == 1 else 'properties'} {', '.join(unknown)}; use {names}"
    if error.validator == "minProperties":
        return f"send at least one of {names}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"{', '.join(missing)}: required"
    if error.validator == "type":
        return f"{where}: " + ("true or false" if error.validator_value == "boolean"
                               else f"must be of type {error.validator_value}")
    if error.validator == "enum" and len(error.validator_value) <= 10:
        return f"{where}: one of {', '.join(map(str, error.validator_value))}"
    if "description" in error.schema:
        return f"{where}: {error.schema['description']}"
    return f"{where}: breaks {error.validator} {str(error.validator_value)[:100]}"


# --- providers ------------------------------------------------------------------------------

@bp.get("/providers")
def providers():
    views = provider_status.all_providers(state().db, state().settings, admin_state().refresher)
    return jsonify(providers=[_provider_json(view) for view in views])


@bp.get("/providers/<name>")
def provider(name: str):
    return jsonify(_provider_json(provider_status.one(state().db, state().settings,
                                                      admin_state().refresher, name)))


@bp.put("/providers/<name>/credentials")
def save_credentials(name: str):
    values = _body()
    if not values:
        raise ApiError("send each credential to set as a string, e.g. {\"api_key\": \"...\"}")
    for field, value in values.items():
        if not isinstance(value, str) or not re.fullmatch(api_spec.CREDENTIAL_PATTERN, value):
            raise ApiError(f"{field}: 1 to 2000 printable ASCII characters, no spaces")
    result = credentials.save(state().db, state().settings, name, values, verify=True)
    return jsonify(ok=result.ok, message=result.message)


@bp.post("/providers/<name>/credentials/check")
def check_credentials(name: str):
    result = credentials.check(state().db, state().settings, name)
    return jsonify(ok=result.ok, message=result.message)


@bp.delete("/providers/<name>/credentials")
def delete_credentials(name: str):
    credentials.delete(state().db, state().settings, name)
    return "", 204


@bp.post("/providers/<name>/refresh")
def refresh_provider(name: str):
    started, made_due = admin_state().refresher.provider(name)
    if not started:
        return jsonify(error=f"a refresh of {name} started here is still running",
                       films_made_due=made_due), 409
    return jsonify(started=True, films_made_due=made_due), 202


# --- films ----------------------------------------------------------------------------------

@bp.get("/films")
def film_list():
    query = request.args.get("q", "")
    if len(query) > api_spec.MAX_TEXT or "\x00" in query:
        raise ApiError(f"q: at most {api_spec.MAX_TEXT} characters, no NUL")
    return jsonify(films=[asdict(row) for row in films.search_films(state().db, query)])


@bp.post("/films")
def add_film():
    body = _body("/films")
    refresh = body.get("refresh", True)
    row, created = films.add_film(state().db, _text(body, "film"))
    reports = admin_state().refresher.film(row.ref) if created and refresh else []
    detail = films.film_detail(state().db, row.ref)
    return jsonify(film=_detail_json(detail), created=created,
                   refresh=[_report_json(report) for report in reports]), 201 if created else 200


@bp.get("/films/<film>")
def film(film: str):
    return jsonify(_detail_json(films.film_detail(state().db, film)))


@bp.post("/films/<film>/refresh")
def refresh_film(film: str):
    reports = admin_state().refresher.film(film)
    return jsonify(refresh=[_report_json(report) for report in reports],
                   film=_detail_json(films.film_detail(state().db, film)))


@bp.post("/films/<film>/products")
def link_product(film: str):
    body = _body("/films/{film}/products")
    region = normalize_region(str(body.get("region") or state().settings.service.default_region))
    named = {key: _text(body, key) for key in ("asin", "gtin", "url") if key in body}
    ref = curation.ProductRef(**named, title=body.get("title"), format=body.get("format"))
    rows = curation.link_product(state().db, film, ref, region, str(body.get("relation", "edition")),
                                 state().settings)
    return jsonify(links=[_link_json(row) for row in rows]), 201


@bp.patch(f"/films/<film>/products/<int(min=1, max={MAX_ID}):link_id>")
def change_link(film: str, link_id: int):
    body = _body("/films/{film}/products/{link_id}")
    db = state().db
    if link_id not in {row.id for row in curation.film_links(db, film)}:
        raise ApiError(f"film {film} has no product link {link_id}", 404)
    if "status" in body:
        curation.set_status(db, [link_id], str(body["status"]))
    if "pinned" in body:
        curation.set_pinned(db, [link_id], body["pinned"])
    if "hidden" in body:
        curation.set_hidden(db, [link_id], body["hidden"])
    row = next(row for row in curation.film_links(db, film) if row.id == link_id)
    return jsonify(_link_json(row))


@bp.put("/films/<film>/products/order")
def reorder(film: str):
    ids = _body("/films/{film}/products/order")["links"]
    return jsonify(links=[_link_json(row) for row in curation.reorder(state().db, film, ids)])


# --- review ---------------------------------------------------------------------------------

@bp.get("/review")
def review():
    _only(request.args, review_queue.FILTER_FIELDS)
    _not_empty(request.args)
    chosen = review_queue.parse_filter(request.args)
    page = review_queue.listing(state().db, chosen)
    return jsonify(total=page.total, offset=chosen.offset, limit=chosen.limit,
                   links=[_candidate_json(candidate) for candidate in page.candidates])


@bp.post("/review")
def decide_review():
    """Approve or reject the links named, or every link a filter chooses: exactly one of them."""
    body = _body()
    _only(body, ("status", "links", "filter"))
    if ("links" in body) == ("filter" in body):
        raise ApiError("send either links (ids) or filter (as GET /review takes it), not both or neither")
    body = _body("/review")
    status = body["status"]
    if "links" in body:
        return jsonify(decided=review_queue.decide(state().db, body["links"], status))
    chosen = body["filter"]
    return jsonify(decided=review_queue.decide_matching(
        state().db, review_queue.parse_filter({k: str(v) for k, v in chosen.items()}), status))


def _not_empty(args) -> None:
    """A query parameter given is given a value (the console's forms send empty ones for
    "any"; the API's document has no empty values)."""
    empty = sorted(name for name, value in args.items(multi=True) if not value)
    if empty:
        raise ApiError(f"{empty[0]}: empty; give a value or leave the parameter out")


def _only(given, allowed) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ApiError(f"unknown {'parameter' if len(unknown) == 1 else 'parameters'} "
                       f"{', '.join(unknown)}; use {', '.join(allowed)}")


# --- webhooks -------------------------------------------------------------------------------

_WEBHOOK_FIELDS = ("url", "events", "regions", "platforms", "films", "description")


@bp.get("/webhooks")
def webhook_list():
    return jsonify(webhooks=[_webhook_json(hook) for hook in endpoints.listing(state().db)])


@bp.post("/webhooks")
def add_webhook():
    body = _body()
    unknown = sorted(set(body) - set(_WEBHOOK_FIELDS))
    if unknown:
        raise ApiError(f"unknown {', '.join(unknown)}; send {', '.join(_WEBHOOK_FIELDS)}")
    lists = {name: _strings(body, name) for name in ("events", "regions", "platforms", "films")}
    description = body.get("description", "")
    if not isinstance(description, str):
        raise ApiError("description: a string")
    hook, secret = endpoints.register(state().db, _text(body, "url"), lists["events"],
                                      regions=lists["regions"], platforms=lists["platforms"],
                                      films=lists["films"], description=description,
                                      allow_local=state().settings.webhooks.allow_local_endpoints)
    return jsonify(webhook=_webhook_json(hook), secret=secret), 201


@bp.get("/webhooks/<int:endpoint_id>")
def webhook(endpoint_id: int):
    db = state().db
    return jsonify(webhook=_webhook_json(endpoints.one(db, endpoint_id)),
                   deliveries=[_delivery_json(row) for row in endpoints.deliveries(db, endpoint_id)])


@bp.delete("/webhooks/<int:endpoint_id>")
def remove_webhook(endpoint_id: int):
    endpoints.remove(state().db, endpoint_id)
    return "", 204


@bp.post("/webhooks/<int:endpoint_id>/resume")
def resume_webhook(endpoint_id: int):
    return jsonify(_webhook_json(endpoints.resume(state().db, endpoint_id)))


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/send-again")
def send_delivery_again(endpoint_id: int, delivery_id: int):
    return jsonify(_delivery_json(endpoints.send_again(state().db, endpoint_id, delivery_id)))


def _strings(body: dict, key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value) or len(value) > 100:
        raise ApiError(f"{key}: a list of at most 100 strings")
    return value


# --- clicks ---------------------------------------------------------------------------------

@bp.get("/clicks")
def clicks():
    _not_empty(request.args)
    since, until = click_report.period(request.args.get("since"), request.args.get("until"),
                                       dt.datetime.now(dt.UTC).date())
    return jsonify(click_report.as_json(state().db, since, until))


# --- JSON shapes ----------------------------------------------------------------------------

def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(f"{key}: give it as a non-empty string")
    return value


def _provider_json(view: provider_status.ProviderView) -> dict:
    h = view.health
    status = view.credentials
    return {
        "name": h.name, "type": h.type_name, "description": view.description, "enabled": h.enabled,
        "state": h.state, "healthy": h.healthy, "refreshing": view.refreshing,
        "last_success_at": _time(h.last_success_at), "last_error_at": _time(h.last_error_at),
        "last_error_kind": h.last_error_kind, "last_error": h.last_error,
        "next_run": _time(h.next_run), "next_run_text": h.next_run_text, "films_due": h.films_due,
        "quota_left": h.quota_left, "quota_period": h.quota_period,
        "breaker_state": h.breaker_state, "notes": list(h.notes),
        "credentials": None if status is None else {
            "fields": [{"name": f.name, "label": f.label, "secret": f.secret,
                        "how_to_obtain": f.how_to_obtain, "source": status.source.get(f.name),
                        "masked": status.masked.get(f.name), "env_var": status.env_vars.get(f.name)}
                       for f in view.fields],
            "readable": status.readable, "state": status.state,
            "checked_at": _time(status.checked_at), "ok": status.ok,
        },
    }


def _detail_json(detail: films.FilmDetail) -> dict:
    return {
        **asdict(detail.film), "runtime_minutes": detail.runtime_minutes,
        "director": detail.director, "revision": detail.revision,
        "external_ids": detail.external_ids,
        "offers": [{**asdict(offer), "price": _money(offer.price),
                    "expires_on": offer.expires_on.isoformat() if offer.expires_on else None,
                    **{k: _time(getattr(offer, k)) for k in ("first_seen", "last_seen", "last_checked")}}
                   for offer in detail.offers],
        "products": [_link_json(row) for row in detail.links],
    }


def _link_json(row: curation.LinkRow) -> dict:
    return {**asdict(row), "price": _money(row.price), "reasons": list(row.reasons)}


def _candidate_json(candidate: review_queue.Candidate) -> dict:
    return {**asdict(candidate), "price": _money(candidate.price), "reasons": list(candidate.reasons)}


def _webhook_json(hook: endpoints.EndpointView) -> dict:
    return {**asdict(hook), **{name: list(getattr(hook, name))
                               for name in ("events", "regions", "platforms", "films")},
            **{name: _time(getattr(hook, name)) for name in ("created_at", "state_changed_at")}}


def _delivery_json(row: endpoints.DeliveryView) -> dict:
    return {**asdict(row), **{name: _time(getattr(row, name)) for name in (
        "created_at", "last_attempt_at", "next_attempt_at", "delivered_at")}}


def _report_json(report: RunReport) -> dict:
    stats = report.stats
    return {
        "provider": report.provider, "status": report.status, "error": report.error,
        "summary": summary(report), "quarantined": stats.quarantined if stats else None,
        "warning": report.warning,
        "problems": [str(problem) for problem in stats.problems] if stats else [],
        **{name: getattr(stats, name, 0) for name in (
            "offers_added", "offers_changed", "offers_missing",
            "products_added", "products_changed", "products_missing")},
    }


def _money(amount: Decimal | None) -> str | None:
    """Decimal strings, as the public API gives prices: JSON numbers would be read as floats."""
    return None if amount is None else str(amount)


def _time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
