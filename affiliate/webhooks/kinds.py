"""The availability events webhooks send: an offer appeared, left, came back, dropped in
price, or will leave within the configured window."""

EVENT_KINDS = ("appeared", "left", "returned", "price_drop", "leaving_soon")
