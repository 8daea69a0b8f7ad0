"""Signed webhooks: availability events (an offer appeared, left, returned, dropped in price,
or will leave soon) sent to the endpoints operators register, as the Standard Webhooks
specification describes (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

The catalog writes offer_event rows in the same transaction as the change itself; that table
is the outbox. `outbox.collect` turns the events past each endpoint's cursor into one
webhook_delivery row per endpoint (rows and cursor in one transaction), `sender.send_due`
posts the due ones and records the answer. A crash anywhere repeats work, never loses it:
delivery is at least once, under a message id that never changes.
"""
