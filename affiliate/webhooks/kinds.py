"""The availability events webhooks send: an offer appeared, left, came back, dropped in
price, or will leave within the configured window. Kept free of imports: the offer history
(affiliate.history) asks it what to queue while it stores events."""
from __future__ import annotations

from decimal import Decimal

EVENT_KINDS = ("appeared", "left", "returned", "price_drop", "leaving_soon")


def webhook_kind(stored: str, before: Decimal | None, after: Decimal | None) -> str | None:
    """A stored offer event's webhook kind; None for those not sent (a price rise)."""
    if stored == "price_changed":  # affiliate.history.PRICE_CHANGED
        return "price_drop" if before is not None and after is not None and after < before else None
    return stored if stored in EVENT_KINDS else None


def message_id(event_id: int) -> str:
    """The webhook-id of an event's deliveries: the same on every retry and endpoint."""
    return f"evt_{event_id}"
