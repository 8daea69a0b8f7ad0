"""Sending due deliveries (the outbox is filled with each event, affiliate.webhooks.queue):
signed as Standard Webhooks says (the `standardwebhooks` package signs, so receivers verify
with the same library), posted with providers.outbound's guarded session (the address is
checked as the connection opens, redirects are not followed, the answer is read to a cap)."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import requests
from standardwebhooks import Webhook

from affiliate.config import Settings
from affiliate.db import Database
from affiliate.types import utcnow
from affiliate.webhooks import outbox, target
from affiliate.webhooks.endpoints import secret_of
from providers import outbound

log = logging.getLogger(__name__)
USER_AGENT = "film-affiliate-webhooks/1"
ANSWER_BYTES = 64 * 1024  # a receiver's answer is read this far, then dropped


@dataclass(frozen=True)
class Sent:
    delivered: int = 0
    failed: int = 0


def run(db: Database, settings: Settings, http: requests.Session | None = None,
        now: dt.datetime | None = None) -> Sent:
    """One pass: every due delivery sent once."""
    now = now or utcnow()
    with db.session() as session:
        if not outbox.has_work(session):
            return Sent()
    http = http or outbound.guarded_session(allow_private=settings.webhooks.allow_local_endpoints)
    delivered = failed = 0
    while claimed := outbox.claim(db, now):
        for item in claimed:
            ok = _send(db, settings, http, item, now)
            delivered, failed = delivered + ok, failed + (not ok)
    return Sent(delivered, failed)


def _send(db: Database, settings: Settings, http: requests.Session, item: outbox.Claimed,
          now: dt.datetime) -> bool:
    try:
        target.check(item.url, settings.webhooks.allow_local_endpoints)
        secret = secret_of(item.secret_ciphertext)
    except ValueError as exc:
        outbox.failed(db, item.delivery_id, None, str(exc), now)
        log.warning("webhook %s: %s not sent: %s", item.endpoint_id, item.message_id, exc)
        return False
    text = outbox.payload(db, item, settings.link_tags, now)
    if text is None:
        outbox.failed(db, item.delivery_id, None, "the event is no longer stored (pruned)", now, final=True)
        return False
    stamp = utcnow()
    body = text.encode()
    headers = {"content-type": "application/json", "user-agent": USER_AGENT,
               "webhook-id": item.message_id, "webhook-timestamp": str(int(stamp.timestamp())),
               "webhook-signature": Webhook(secret).sign(item.message_id, stamp, body)}
    try:
        answer = outbound.send(http, "POST", item.url, redirects="none", data=body, headers=headers,
                               timeout=settings.webhooks.timeout_seconds,
                               limits=outbound.Limits(max_bytes=ANSWER_BYTES,
                                                      max_seconds=settings.webhooks.timeout_seconds))
    except outbound.OutboundRefused as exc:
        outbound_failure = str(exc)
    except requests.RequestException as exc:
        outbound_failure = f"request failed ({type(exc).__name__})"
    else:
        outbound_failure = None
    if outbound_failure is not None:
        outbox.failed(db, item.delivery_id, None, outbound_failure, now)
        return False
    if 200 <= answer.status_code < 300:
        outbox.delivered(db, item.delivery_id, answer.status_code, now)
        return True
    why = ("answered a redirect; webhooks do not follow redirects" if 300 <= answer.status_code < 400
           else f"answered {answer.status_code}")
    outbox.failed(db, item.delivery_id, answer.status_code, why, now)
    log.info("webhook %s: %s %s", item.endpoint_id, item.message_id, why)
    return False

