"""Signed webhooks (affiliate.webhooks): endpoints registered with filters get each event once,
signed as Standard Webhooks says and verified here with the `standardwebhooks` library;
failures are retried on the schedule, a receiver that keeps failing pauses its endpoint, a
410 stops it, and a crash between event and delivery loses nothing."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import select
from standardwebhooks import Webhook

from affiliate import credential_store
from affiliate.catalog import reconcile
from affiliate.models import Film, WebhookDelivery, WebhookEndpoint
from affiliate.webhooks import endpoints, outbox, sender
from affiliate.webhooks.target import RefusedTarget
from providers.base import FilmKey, FilmRecord, OfferKind, OfferRecord, PlatformRecord, ProviderResult, Quality
from tests.standin import Answer

LLV = FilmKey(imdb_id="tt0113627")
NETFLIX = PlatformRecord("netflix", "Netflix")
APPLE = PlatformRecord("apple-tv", "Apple TV")
T0 = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(credential_store.KEY_VARIABLE, credential_store.generate_key())


@pytest.fixture
def local(make_settings):
    return make_settings(webhooks={"allow_local_endpoints": True})


@pytest.fixture
def receiver(standin):
    standin.route("POST", "/hook", Answer(204, b""))
    return standin


def offers(*rows, now=T0):
    """Offers of Leaving Las Vegas: (platform, region, kind, price)."""
    return ProviderResult(
        films=[FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627")],
        offers=[OfferRecord(LLV, platform, region, kind, Quality.HD, f"https://example.com/{platform.slug}",
                            Decimal(price) if price else None, "USD" if price else None)
                for platform, region, kind, price in rows],
        covered={LLV}, complete=True)


def store(db, *rows, now=T0):
    """The film has been in the catalog for a month: its new offers are news (an offer found
    with a film's first fetches is not, as in lists and feeds)."""
    with db.session() as session:
        if session.exec(select(Film).where(Film.imdb_id == "tt0113627")).first() is None:
            session.add(Film(title="Leaving Las Vegas", year=1995, imdb_id="tt0113627",
                             created_at=T0 - dt.timedelta(days=30)))
    return reconcile(db, "feed", offers(*rows), 1, now=now)


def received(receiver, secret):
    """Each request the receiver got, verified with its secret, as (id, type, data)."""
    out = []
    for request in receiver.requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = Webhook(secret).verify(request.body, headers)
        out.append((headers["webhook-id"], body["type"], body["data"]))
    return out


def test_an_endpoint_gets_each_chosen_event_once_signed(db, local, receiver):
    store(db, (NETFLIX, "US", OfferKind.SUBSCRIPTION, None))  # before the endpoint: not sent
    hook, secret = endpoints.register(db, receiver.url + "/hook", ["appeared", "left", "price_drop"],
                                      regions=["us"], allow_local=True)
    store(db, (NETFLIX, "US", OfferKind.SUBSCRIPTION, None), (APPLE, "US", OfferKind.RENT, "3.99"),
          (APPLE, "GB", OfferKind.RENT, "2.99"), now=T0 + dt.timedelta(hours=1))
    store(db, (APPLE, "US", OfferKind.RENT, "2.99"), (APPLE, "GB", OfferKind.RENT, "2.99"),
          now=T0 + dt.timedelta(hours=2))  # Netflix left, Apple US dropped in price
    store(db, (APPLE, "US", OfferKind.RENT, "4.99"), (APPLE, "GB", OfferKind.RENT, "2.99"),
          now=T0 + dt.timedelta(hours=3))  # a price rise is not an event webhooks send

    first = sender.run(db, local)
    again = sender.run(db, local)

    got = received(receiver, secret)
    assert [(kind, data["platform"]["slug"], data["region"]) for _, kind, data in got] == [
        ("offer.appeared", "apple-tv", "US"), ("offer.price_drop", "apple-tv", "US"),
        ("offer.left", "netflix", "US")]
    drop = got[1][2]
    assert (drop["price_before"], drop["price"], drop["currency"]) == ("3.99", "2.99", "USD")
    assert drop["film"] == {"ref": "imdb:tt0113627", "title": "Leaving Las Vegas", "year": 1995,
                            "imdb_id": "tt0113627", "tmdb_id": None, "poster_url": None}
    assert len({message_id for message_id, _, _ in got}) == 3
    assert (first.delivered, again.delivered) == (3, 0)
    assert hook.events == ("appeared", "left", "price_drop") and hook.regions == ("US",)


def test_the_secret_is_stored_encrypted_and_shown_once(db, receiver):
    hook, secret = endpoints.register(db, receiver.url + "/hook", ["appeared"], allow_local=True)

    with db.session() as session:
        row = session.get(WebhookEndpoint, hook.id)
    assert secret.startswith("whsec_") and secret not in row.secret_ciphertext
    assert endpoints.secret_of(row.secret_ciphertext) == secret
    assert secret not in repr(endpoints.one(db, hook.id))


@pytest.mark.parametrize("url, allow_local, message", [
    ("http://example.com/hook", False, "is not an https URL"),
    ("https://127.0.0.1/hook", False, "resolves to 127.0.0.1, a loopback address"),
    ("https://169.254.169.254/latest", False, "resolves to 169.254.169.254, a cloud metadata address"),
    ("https://10.1.2.3/hook", False, "a private address"),
    ("https://[::1]/hook", False, "a loopback address"),
    ("ftp://example.com/hook", True, "is not an https URL"),
    ("https://user:pw@example.com/hook", True, "no user name or password"),
])
def test_unsafe_targets_are_refused_with_the_address_and_rule(db, url, allow_local, message):
    with pytest.raises(RefusedTarget, match=message):
        endpoints.register(db, url, ["appeared"], allow_local=allow_local)
    assert endpoints.listing(db) == []


@pytest.mark.parametrize("arguments, message", [
    ({"events": ["appeared", "sold"]}, "events: choose one or more of"),
    ({"events": []}, "events: choose one or more of"),
    ({"events": ["left"], "regions": ["XX"]}, "is not an ISO 3166-1"),
    ({"events": ["left"], "platforms": ["nope"]}, "platforms: no platform nope"),
    ({"events": ["left"], "films": ["imdb:tt9999999"]}, "films: no film matches imdb:tt9999999"),
])
def test_bad_filters_name_the_field(db, arguments, message):
    with pytest.raises((ValueError, LookupError), match=message):
        endpoints.register(db, "http://127.0.0.1:9/hook", allow_local=True, **arguments)
    assert endpoints.listing(db) == []


def test_registering_without_an_encryption_key_names_the_fix(db, monkeypatch):
    monkeypatch.delenv(credential_store.KEY_VARIABLE)
    with pytest.raises(ValueError, match="AFFILIATE_CREDENTIALS_KEY"):
        endpoints.register(db, "http://127.0.0.1:9/hook", ["left"], allow_local=True)


def test_failures_are_retried_on_the_schedule_then_pause_the_endpoint(db, local, standin):
    standin.route("POST", "/hook", Answer(503, b"busy"))
    hook, _ = endpoints.register(db, standin.url + "/hook", ["appeared"], allow_local=True)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))

    now, attempts_at = T0, []
    for _ in range(20):
        sender.run(db, local, now=now)
        with db.session() as session:
            delivery = session.exec(select(WebhookDelivery)).one()
        attempts_at.append((delivery.attempts, delivery.status))
        if delivery.status != "pending":
            break
        now = delivery.next_attempt_at

    assert attempts_at[-1] == (8, "failed")
    assert now - T0 == sum(outbox.RETRY_DELAYS, dt.timedelta())  # about a day
    paused = endpoints.one(db, hook.id)
    assert paused.state == "paused" and "failed 8 times over a day (answered 503)" in paused.state_reason
    assert len(standin.requests) == 8


def test_a_paused_endpoint_keeps_its_events_until_resumed(db, local, standin):
    standin.route("POST", "/hook", Answer(200, b""))
    hook, secret = endpoints.register(db, standin.url + "/hook", ["appeared"], allow_local=True)
    with db.session() as session:
        row = session.get(WebhookEndpoint, hook.id)
        row.state = "paused"
        session.add(row)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))

    assert sender.run(db, local).delivered == 0
    endpoints.resume(db, hook.id)
    assert sender.run(db, local).delivered == 1
    assert [kind for _, kind, _ in received(standin, secret)] == ["offer.appeared"]


def test_a_410_stops_the_endpoint(db, local, standin):
    standin.route("POST", "/hook", Answer(410, b""))
    hook, _ = endpoints.register(db, standin.url + "/hook", ["appeared", "left"], allow_local=True)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))
    sender.run(db, local)
    store(db, now=T0 + dt.timedelta(hours=1))  # Apple left: not even queued for a gone endpoint
    sender.run(db, local, now=T0 + dt.timedelta(days=2))

    assert endpoints.one(db, hook.id).state == "gone"
    assert len(standin.requests) == 1
    assert [d.status for d in endpoints.deliveries(db, hook.id)] == ["failed"]


def test_redirects_are_not_followed(db, local, standin):
    standin.route("POST", "/hook", Answer(307, b"", {"Location": standin.url + "/elsewhere"}))
    hook, _ = endpoints.register(db, standin.url + "/hook", ["appeared"], allow_local=True)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))

    sender.run(db, local)

    assert [r.path for r in standin.requests] == ["/hook"]
    (delivery,) = endpoints.deliveries(db, hook.id)
    assert delivery.status == "pending" and "do not follow redirects" in delivery.last_error


def test_a_crash_between_event_and_delivery_loses_nothing_and_repeats_the_same_id(db, local, receiver):
    hook, secret = endpoints.register(db, receiver.url + "/hook", ["appeared"], allow_local=True)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))
    outbox.claim(db, T0)  # the sender dies here, after its lease and before posting

    assert sender.run(db, local, now=T0 + dt.timedelta(seconds=30)).delivered == 0  # leased
    assert sender.run(db, local, now=T0 + outbox.LEASE + dt.timedelta(seconds=1)).delivered == 1
    (delivery,) = endpoints.deliveries(db, hook.id)
    endpoints.send_again(db, hook.id, delivery.id)
    sender.run(db, local)  # now: "send again" makes it due at once

    ids = [message_id for message_id, _, _ in received(receiver, secret)]
    assert len(ids) == 2 and len(set(ids)) == 1  # "send again" keeps the id receivers dedupe on


def test_a_target_that_comes_to_resolve_privately_is_refused_at_send_time(db, make_settings, standin):
    standin.route("POST", "/hook", Answer(200, b""))
    hook, _ = endpoints.register(db, standin.url + "/hook", ["appeared"], allow_local=True)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))

    sender.run(db, make_settings())  # the service no longer allows local endpoints

    assert standin.requests == []
    (delivery,) = endpoints.deliveries(db, hook.id)
    assert "is not an https URL" in delivery.last_error


def test_unknown_ids_are_lookup_errors(db):
    for call in (lambda: endpoints.one(db, 7), lambda: endpoints.remove(db, 2**40),
                 lambda: endpoints.send_again(db, 1, 1)):
        with pytest.raises(LookupError):
            call()


def test_the_cli_adds_lists_sends_and_removes(db, settings, receiver, tmp_path):
    from click.testing import CliRunner

    from affiliate.__main__ import main

    (tmp_path / "config.toml").write_text(f'[service]\ndatabase_url = "{settings.service.database_url}"\n'
                                          "[webhooks]\nallow_local_endpoints = true\n")
    runner = CliRunner()
    added = runner.invoke(main, ["webhooks", "add", receiver.url + "/hook", "--event", "appeared,left",
                                 "--region", "US"])
    secret = added.stdout.strip()
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))
    sent = runner.invoke(main, ["webhooks", "send"])
    listed = runner.invoke(main, ["webhooks", "list"])
    log = runner.invoke(main, ["webhooks", "deliveries", "1"])
    bad_event = runner.invoke(main, ["webhooks", "add", receiver.url, "--event", "sold"])
    unknown = runner.invoke(main, ["webhooks", "send-again", "1", "99"])
    removed = runner.invoke(main, ["webhooks", "remove", "1"])

    assert added.exit_code == 0 and secret.startswith("whsec_") and "shown only now" in added.stderr
    assert sent.output == "1 delivered, 0 failed (retried on the schedule).\n"
    assert "active" in listed.output and "[appeared, left]  regions US  1 delivered" in listed.output
    assert "evt_" in log.output and "delivered" in log.output and "answered 204" in log.output
    assert bad_event.exit_code == 1 and "events: choose one or more of appeared" in bad_event.output
    assert unknown.exit_code == 1 and "webhook 1 has no delivery 99" in unknown.output
    assert removed.exit_code == 0 and endpoints.listing(db) == []
    assert [kind for _, kind, _ in received(receiver, secret)] == ["offer.appeared"]


def test_the_console_registers_shows_the_log_and_sends_again(make_settings, receiver, monkeypatch):
    from tests.admin_support import admin_app, fast_password_hashing, log_in, post

    fast_password_hashing(monkeypatch)
    app = admin_app(make_settings, webhooks={"allow_local_endpoints": True})
    db, settings = app.extensions["affiliate"].db, app.extensions["affiliate"].settings
    client = app.test_client()
    log_in(client, db)

    made = post(client, "/admin/webhooks", {"url": receiver.url + "/hook", "events": ["appeared", "left"],
                                            "regions": "us, gb"}, page="/admin/webhooks")
    secret = made.get_data(as_text=True).split('id="new-secret">')[1].split("<")[0]
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))
    sender.run(db, settings)
    log = client.get("/admin/webhooks/1").get_data(as_text=True)
    again = post(client, "/admin/webhooks/1/deliveries/1", page="/admin/webhooks/1")
    sender.run(db, settings)
    bad = post(client, "/admin/webhooks", {"url": "ftp://x", "events": ["left"]}, page="/admin/webhooks")
    listing = client.get("/admin/webhooks").get_data(as_text=True)

    assert made.status_code == 201 and secret.startswith("whsec_")
    assert secret not in listing and "1 delivered, 0 waiting, 0 failed" in listing
    assert "evt_" in log and "delivered" in log and "Send again" in log
    assert again.status_code == 303
    ids = [message_id for message_id, _, _ in received(receiver, secret)]
    assert len(ids) == 2 and len(set(ids)) == 1
    assert bad.status_code == 400 and "is not an https URL" in bad.get_data(as_text=True)
    assert post(client, "/admin/webhooks/1/remove", page="/admin/webhooks/1").status_code == 303
    assert client.get("/admin/webhooks/1").status_code == 404
    db.dispose()


def test_deliveries_are_written_with_their_event_or_not_at_all(db, receiver):
    from affiliate import history
    from affiliate.models import Offer, OfferEvent

    endpoints.register(db, receiver.url + "/hook", ["left"], allow_local=True)
    store(db, (APPLE, "US", OfferKind.RENT, "3.99"))
    with db.session() as session:
        offer = session.exec(select(Offer)).one()
    with pytest.raises(RuntimeError), db.session() as session:
        history.record(session, [history.Change.of(offer, history.LEFT)], T0)
        raise RuntimeError("the refresh dies before it commits")

    with db.session() as session:
        assert session.exec(select(OfferEvent).where(OfferEvent.event == "left")).all() == []
        assert session.exec(select(WebhookDelivery)).all() == []


def test_a_films_first_offers_are_not_news(db, local, receiver):
    endpoints.register(db, receiver.url + "/hook", ["appeared"], allow_local=True)
    reconcile(db, "feed", offers((APPLE, "US", OfferKind.RENT, "3.99")), 1, now=T0)  # a new film

    assert sender.run(db, local).delivered == 0 and receiver.requests == []
