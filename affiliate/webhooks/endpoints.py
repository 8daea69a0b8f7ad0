"""Registering webhook endpoints and reading their delivery log: what the CLI, the console and
the admin API call. A secret is made here, stored encrypted with the provider credentials' key
(AFFILIATE_CREDENTIALS_KEY) and returned once, when the endpoint is made."""
from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from sqlalchemy import func
from sqlmodel import select

from affiliate import credential_store
from affiliate.catalog import film_key, find_film
from affiliate.db import Database
from affiliate.models import Film, Platform, WebhookDelivery, WebhookEndpoint
from affiliate.types import utcnow
from affiliate.webhooks import target
from affiliate.webhooks.kinds import EVENT_KINDS
from providers.base import FilmKey
from providers.regions import normalize_region

LOG_LIMIT = 100


@dataclass(frozen=True)
class EndpointView:
    id: int
    url: str
    description: str
    events: tuple[str, ...]
    regions: tuple[str, ...]
    platforms: tuple[str, ...]
    films: tuple[str, ...]  # film references
    state: str
    state_reason: str | None
    state_changed_at: dt.datetime | None
    created_at: dt.datetime
    pending: int
    delivered: int
    failed: int


@dataclass(frozen=True)
class DeliveryView:
    id: int
    message_id: str
    event: str
    status: str
    attempts: int
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_status: int | None
    last_error: str | None


def register(db: Database, url: str, events: list[str], *, regions: list[str] = (),
             platforms: list[str] = (), films: list[str] = (), description: str = "",
             allow_local: bool = False) -> tuple[EndpointView, str]:
    """A new endpoint and its signing secret (shown this once). It receives the events that
    happen from now on, not the history before it. ValueError names the field at fault."""
    url = (url or "").strip()
    if len(url) > 2000:
        raise ValueError("url: at most 2000 characters")
    target.check(url, allow_local)
    chosen = _events(events)
    regions = sorted({normalize_region(region) for region in regions})
    if len(description) > 200:
        raise ValueError("description: at most 200 characters")
    fernet = credential_store.keys(required=True)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with db.session() as session:
        known = set(session.exec(select(Platform.slug).where(Platform.slug.in_(list(platforms)))))
        unknown = sorted(set(platforms) - known)
        if unknown:
            raise ValueError(f"platforms: no platform {', '.join(unknown)} (see `affiliate platforms list`)")
        film_ids = sorted({_film_id(session, ref) for ref in films})
        endpoint = WebhookEndpoint(
            url=url, description=description.strip(), events=json.dumps(chosen),
            secret_ciphertext=fernet.encrypt(_sealed(secret)).decode(),
            regions=json.dumps(regions), platforms=json.dumps(sorted(set(platforms))),
            films=json.dumps(film_ids))
        session.add(endpoint)
        session.flush()
        view = _view(session, endpoint)
    return view, secret


def listing(db: Database) -> list[EndpointView]:
    with db.session() as session:
        return [_view(session, endpoint)
                for endpoint in session.exec(select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def one(db: Database, endpoint_id: int) -> EndpointView:
    with db.session() as session:
        return _view(session, _endpoint(session, endpoint_id))


def remove(db: Database, endpoint_id: int) -> None:
    """The endpoint and its delivery log; events it was not sent are not sent."""
    with db.session() as session:
        endpoint = _endpoint(session, endpoint_id)
        for delivery in session.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)):
            session.delete(delivery)
        session.flush()
        session.delete(endpoint)


def resume(db: Database, endpoint_id: int) -> EndpointView:
    """Deliver again to a paused or gone endpoint: what waited is sent, oldest first."""
    with db.session() as session:
        endpoint = _endpoint(session, endpoint_id)
        endpoint.state, endpoint.state_reason, endpoint.state_changed_at = "active", None, utcnow()
        session.add(endpoint)
        session.flush()
        return _view(session, endpoint)


def deliveries(db: Database, endpoint_id: int, limit: int = LOG_LIMIT) -> list[DeliveryView]:
    """The endpoint's delivery log, newest first."""
    with db.session() as session:
        _endpoint(session, endpoint_id)
        rows = session.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                            .order_by(WebhookDelivery.id.desc()).limit(limit)).all()
        return [_delivery_view(row) for row in rows]


def send_again(db: Database, endpoint_id: int, delivery_id: int) -> DeliveryView:
    """Queue a delivery once more, under the same message id (receivers drop a repeat)."""
    with db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id) if 0 < delivery_id < 2**31 else None
        if delivery is None or delivery.endpoint_id != endpoint_id:
            raise LookupError(f"webhook {endpoint_id} has no delivery {delivery_id}")
        delivery.status, delivery.attempts, delivery.lease_until = "pending", 0, None
        delivery.next_attempt_at = utcnow()
        session.add(delivery)
        return _delivery_view(delivery)


def secret_of(ciphertext: str) -> str:
    """An endpoint's signing secret; ValueError if no configured key opens it."""
    try:
        sealed = json.loads(credential_store.keys(required=True).decrypt(ciphertext.encode()))
    except InvalidToken:
        raise ValueError(credential_store.WRONG_KEY) from None
    if sealed.get("webhook") != "secret":
        raise ValueError("webhook secret: stored value is not a webhook secret")
    return sealed["value"]


def _sealed(secret: str) -> bytes:
    return json.dumps({"webhook": "secret", "value": secret}).encode()


def _events(events: list[str]) -> list[str]:
    chosen = sorted(set(events), key=EVENT_KINDS.index) if set(events) <= set(EVENT_KINDS) else None
    if not chosen:
        raise ValueError(f"events: choose one or more of {', '.join(EVENT_KINDS)}")
    return chosen


def _film_id(session, ref: str) -> int:
    film = find_film(session, FilmKey.parse(ref))
    if film is None:
        raise LookupError(f"films: no film matches {ref}")
    return film.id


def _endpoint(session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id < 2**31 else None
    if endpoint is None:
        raise LookupError(f"no webhook with id {endpoint_id}")
    return endpoint


def _view(session, endpoint: WebhookEndpoint) -> EndpointView:
    counts = dict(session.exec(select(WebhookDelivery.status, func.count())
                               .where(WebhookDelivery.endpoint_id == endpoint.id)
                               .group_by(WebhookDelivery.status)).all())
    film_ids = json.loads(endpoint.films)
    films = session.exec(select(Film).where(Film.id.in_(film_ids))).all() if film_ids else []
    return EndpointView(
        id=endpoint.id, url=endpoint.url, description=endpoint.description,
        events=tuple(json.loads(endpoint.events)), regions=tuple(json.loads(endpoint.regions)),
        platforms=tuple(json.loads(endpoint.platforms)), films=tuple(str(film_key(f)) for f in films),
        state=endpoint.state, state_reason=endpoint.state_reason,
        state_changed_at=endpoint.state_changed_at, created_at=endpoint.created_at,
        pending=counts.get("pending", 0), delivered=counts.get("delivered", 0),
        failed=counts.get("failed", 0))


def _delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(row.id, row.message_id, row.event, row.status, row.attempts, row.created_at,
                        row.last_attempt_at, row.next_attempt_at if row.status == "pending" else None,
                        row.delivered_at, row.last_status, row.last_error)
