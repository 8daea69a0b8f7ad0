"""Signed webhooks: availability events (an offer appeared, left, returned, dropped in price,
or will leave soon) sent to the endpoints operators register, as the Standard Webhooks
specification describes (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

The offer history writes each event and, in the same transaction, one webhook_delivery row
per endpoint whose filters choose it (`queue`): the outbox. The scheduler's pass
(`sender.run`) claims the due rows (`outbox`), posts them and records the answer. A crash
anywhere repeats work, never loses it: delivery is at least once, under a message id that
never changes.
"""
