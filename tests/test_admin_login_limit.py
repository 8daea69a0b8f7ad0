"""The limit on console logins: failed attempts counted per client address and per username in
the database, a lock until the window ends, proxies, and `affiliate admin unlock`."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate.__main__ import main
from affiliate.admin import auth, views
from affiliate.models import LoginFailure
from affiliate.types import utcnow
from tests.admin_support import PASSWORD, USERNAME, admin_app, csrf_token, fast_password_hashing
from tests.clock import FakeClock

LIMITS = {"login_attempts_per_address": 3, "login_attempts_per_user": 5,
          "login_lockout_minutes": 15}


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock(utcnow())  # near the real time, which `affiliate admin unlock` reads
    monkeypatch.setattr(views, "utcnow", clock.now)
    return clock


def make_app(make_settings, **admin):
    return admin_app(make_settings, admin={**LIMITS, **admin})


@pytest.fixture
def app(make_settings, clock):
    app = make_app(make_settings)
    auth.create_user(app.extensions["affiliate"].db, USERNAME, PASSWORD)
    yield app
    app.extensions["affiliate"].db.dispose()


@pytest.fixture
def db(app):
    return app.extensions["affiliate"].db


def attempt(app, password: str, address: str = "203.0.113.7", username: str = USERNAME,
            headers: dict | None = None, client=None):
    client = client or app.test_client()
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client)
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": token},
                       environ_base=environ, headers=headers or {})


def fail(app, times: int, **kwargs) -> None:
    for _ in range(times):
        assert attempt(app, "wrong guess", **kwargs).status_code == 401


def test_an_address_over_its_limit_is_refused_even_the_right_password(app, monkeypatch):
    fail(app, 3)

    checked = []
    monkeypatch.setattr(auth, "authenticate", lambda *args: checked.append(args))
    client = app.test_client()
    refused = attempt(app, PASSWORD, client=client)

    assert refused.status_code == 429 and checked == []  # no password check while locked
    assert refused.headers["Retry-After"] == str(15 * 60)
    text = refused.get_data(as_text=True)
    assert "Too many failed logins. Try again in 15 minutes." in text
    assert client.get("/admin/providers").status_code == 303  # not logged in
    assert refused.headers["Cache-Control"] == "no-store"


def test_another_address_still_logs_in(app):
    fail(app, 3)

    assert attempt(app, PASSWORD, address="198.51.100.9").status_code == 303


def test_the_lock_ends_with_its_window(app, clock):
    fail(app, 3)
    clock.advance(minutes=14, seconds=30)

    still = attempt(app, PASSWORD)
    assert still.status_code == 429 and still.headers["Retry-After"] == "30"
    assert "Try again in 1 minute." in still.get_data(as_text=True)

    clock.advance(seconds=30)
    assert attempt(app, PASSWORD).status_code == 303


def test_failures_older_than_the_window_do_not_count(app, clock):
    fail(app, 2)
    clock.advance(minutes=15)
    fail(app, 2)

    assert attempt(app, PASSWORD).status_code == 303


def test_a_username_guessed_from_many_addresses_is_locked_for_all(app):
    for number in range(5):
        fail(app, 1, address=f"192.0.2.{number}")

    assert attempt(app, PASSWORD, address="192.0.2.200").status_code == 429
    # Another operator is not affected.
    auth.create_user(app.extensions["affiliate"].db, "second", PASSWORD)
    assert attempt(app, PASSWORD, address="192.0.2.200", username="second").status_code == 303


def test_an_unknown_username_is_locked_alike(app):
    """The lock says nothing about which names exist."""
    for number in range(5):
        fail(app, 1, address=f"192.0.2.{number}", username="nobody")

    refused = attempt(app, PASSWORD, address="192.0.2.200", username="nobody")

    assert refused.status_code == 429


def test_a_successful_login_clears_the_counts(app):
    fail(app, 2)
    assert attempt(app, PASSWORD).status_code == 303

    fail(app, 2)
    assert attempt(app, PASSWORD).status_code == 303


def test_every_web_process_sees_the_same_counts(make_settings, app, clock):
    other_process = make_app(make_settings)
    fail(app, 2)
    fail(other_process, 1)

    assert attempt(app, PASSWORD).status_code == 429
    assert attempt(other_process, PASSWORD).status_code == 429
    other_process.extensions["affiliate"].db.dispose()


def test_a_count_made_by_another_process_meanwhile_is_added_to(app, db, clock, monkeypatch):
    """Two processes may both find no row for a key and insert one: the loser counts again."""
    from sqlmodel import Session

    from affiliate.admin import throttle

    real_get = Session.get
    raced = []

    def get(session, model, key, **kwargs):
        if model is LoginFailure and not raced:
            raced.append(key)
            with db.session() as other:  # the other process's failed login lands first
                other.add(LoginFailure(key=key, failures=1, since=clock.now()))
            return None
        return real_get(session, model, key, **kwargs)

    monkeypatch.setattr(Session, "get", get)
    attempt_ = throttle.attempt(app.extensions["affiliate"].settings.admin, "192.0.2.1", USERNAME)
    throttle.failed(db, attempt_, clock.now())
    monkeypatch.setattr(Session, "get", real_get)

    with db.session() as session:
        counts = {row.key: row.failures for row in session.exec(select(LoginFailure))}
    assert counts == {key: 2 if key == raced[0] else 1 for key in attempt_.limits}


def test_without_proxies_x_forwarded_for_is_not_believed(app):
    fail(app, 3)

    spoofed = attempt(app, PASSWORD, headers={"X-Forwarded-For": "198.51.100.1"})

    assert spoofed.status_code == 429


def test_behind_a_proxy_the_address_it_saw_is_counted(make_settings, clock):
    app = make_app(make_settings, proxy_hops=1)
    db = app.extensions["affiliate"].db
    auth.create_user(db, USERNAME, PASSWORD)
    proxy = "10.0.0.2"
    # What the client wrote itself comes first; the proxy appends the address it saw.
    for guess in range(3):
        fail(app, 1, address=proxy, headers={"X-Forwarded-For": f"1.1.1.{guess}, 203.0.113.7"})

    assert attempt(app, PASSWORD, address=proxy,
                   headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert attempt(app, PASSWORD, address=proxy,
                   headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 303
    db.dispose()


def test_no_raw_address_or_username_is_stored_and_old_counts_are_dropped(app, db, clock):
    fail(app, 1, address="192.0.2.1", username="someone")
    with db.session() as session:
        keys = [row.key for row in session.exec(select(LoginFailure))]
    assert len(keys) == 2
    assert not any("192.0.2.1" in key or "someone" in key for key in keys)

    clock.advance(minutes=16)
    fail(app, 1, address="192.0.2.2", username="another")

    with db.session() as session:
        assert len(session.exec(select(LoginFailure)).all()) == 2


def test_the_lock_is_logged_once_without_names(app, caplog):
    with caplog.at_level("WARNING", logger="affiliate.admin.throttle"):
        fail(app, 3, address="192.0.2.1")
        attempt(app, "wrong guess", address="192.0.2.1")

    lines = [r.getMessage() for r in caplog.records if r.name == "affiliate.admin.throttle"]
    assert len(lines) == 1 and "from one address" in lines[0]
    assert "192.0.2.1" not in lines[0] and USERNAME not in lines[0]


@pytest.fixture
def run(database_url):
    def invoke(*args):
        return CliRunner().invoke(main, list(args),
                                  env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})
    return invoke


def test_unlock_lets_an_operator_back_in(app, run):
    for number in range(5):
        fail(app, 1, address=f"192.0.2.{number}")
    assert attempt(app, PASSWORD, address="192.0.2.200").status_code == 429

    result = run("admin", "unlock", USERNAME)

    assert result.exit_code == 0 and f"{USERNAME} can log in again." in result.output
    assert attempt(app, PASSWORD, address="192.0.2.200").status_code == 303


def test_unlock_all_clears_locked_addresses_too(app, run):
    fail(app, 3)
    nothing = run("admin", "unlock", USERNAME)
    assert attempt(app, PASSWORD).status_code == 429

    result = run("admin", "unlock", "--all")

    assert f"{USERNAME} was not locked" in nothing.output and "unlock --all" in nothing.output
    assert result.exit_code == 0 and "Cleared 1 count of failed logins." in result.output
    assert attempt(app, PASSWORD).status_code == 303
    assert "has no failed logins counted" in run("admin", "unlock", USERNAME).output


def test_unlock_wants_a_name_or_all(run, app):
    for args in ((), ("someone", "--all")):
        result = run("admin", "unlock", *args)
        assert result.exit_code == 2 and "name one USERNAME, or give --all" in result.output


def test_limits_must_be_positive(make_settings):
    from affiliate.config import ConfigError

    with pytest.raises(ConfigError, match="login_attempts_per_address"):
        make_settings(admin={"login_attempts_per_address": 0})


def test_the_lock_window_is_the_configured_one(make_settings, clock):
    app = make_app(make_settings, login_lockout_minutes=1)
    auth.create_user(app.extensions["affiliate"].db, USERNAME, PASSWORD)
    fail(app, 3)

    assert attempt(app, PASSWORD).headers["Retry-After"] == "60"
    clock.advance(minutes=1)
    assert attempt(app, PASSWORD).status_code == 303
    app.extensions["affiliate"].db.dispose()
