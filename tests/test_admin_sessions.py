"""Console sessions kept on the server: a copied cookie stops working at once after logout, a
new password, `affiliate admin revoke-sessions` or "sign out everywhere", in this web process
and in another one on the same database; idle and absolute lifetimes; an opaque cookie; the
sessions page, the password page and the CLI."""
from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate.__main__ import main
from affiliate.admin import auth, sessions, user_agents
from affiliate.health import when
from affiliate.models import AdminSession
from affiliate.types import utcnow
from tests.admin_support import (
    PASSWORD,
    USERNAME,
    admin_app,
    csrf_token,
    fast_password_hashing,
    log_in,
    post,
)
from tests.clock import FakeClock

COOKIE = "affiliate_admin"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock(utcnow())
    monkeypatch.setattr(sessions, "utcnow", clock.now)
    return clock


@pytest.fixture
def app(make_settings, clock):
    app = admin_app(make_settings)
    yield app
    app.extensions["affiliate"].db.dispose()


@pytest.fixture
def other_process(make_settings, app):
    """A second web process: its own app, engine and caches, on the same database."""
    other = admin_app(make_settings)
    yield other
    other.extensions["affiliate"].db.dispose()


@pytest.fixture
def db(app):
    return app.extensions["affiliate"].db


@pytest.fixture
def operator(app, db):
    client = app.test_client()
    log_in(client, db)
    return client


@pytest.fixture
def run(database_url):
    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input,
                                  env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})
    return invoke


def cookie_of(client) -> str:
    return client.get_cookie(COOKIE, path="/admin").value


def copy_of(client, into_app):
    """A browser of `into_app` holding a copy of `client`'s console cookie."""
    thief = into_app.test_client()
    thief.set_cookie(COOKIE, cookie_of(client), path="/admin")
    return thief


def logged_in(client) -> bool:
    response = client.get("/admin/providers")
    assert response.status_code in (200, 303)
    return response.status_code == 200


def stored(db) -> list[AdminSession]:
    with db.session() as session:
        return list(session.exec(select(AdminSession)))


# --- a copied cookie ends with its session, in every process ---------------------------------

def _log_out(operator, db, run):
    assert post(operator, "/admin/logout").status_code == 303


def _new_password(operator, db, run):
    result = run("admin", "set-password", USERNAME, "--password-stdin",
                 input="another long password\n")
    assert result.exit_code == 0, result.output


def _revoke_sessions(operator, db, run):
    result = run("admin", "revoke-sessions", USERNAME)
    assert result.exit_code == 0, result.output
    assert f"Ended 1 session of {USERNAME}" in result.output


def _sign_out_everywhere(operator, db, run):
    response = post(operator, "/admin/sessions/end-all", page="/admin/sessions")
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/login")


ENDINGS = [_log_out, _new_password, _revoke_sessions, _sign_out_everywhere]


@pytest.mark.parametrize("where", ["same process", "another process"])
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda ending: ending.__name__.strip("_"))
def test_a_copied_cookie_is_refused_right_after_the_session_ends(app, other_process, operator, db,
                                                                   run, ending, where):
    thief = copy_of(operator, app if where == "same process" else other_process)
    assert logged_in(thief)

    ending(operator, db, run)

    assert not logged_in(thief)
    assert not logged_in(operator)
    assert thief.post("/admin/tokens", data={"name": "x", "csrf_token": csrf_token(thief)}
                      ).status_code == 303  # to the login page: nothing made
    assert not [row for row in stored(db) if row.user_id is not None]


def test_logging_out_ends_only_that_browser(app, other_process, db):
    laptop, phone = app.test_client(), other_process.test_client()
    log_in(laptop, db)
    log_in(phone, db, create=False)

    post(laptop, "/admin/logout")

    assert not logged_in(laptop) and logged_in(phone)


def test_logging_out_says_so_once_and_keeps_no_row(operator, db):
    response = post(operator, "/admin/logout")
    page = operator.get(response.headers["Location"]).get_data(as_text=True)

    assert "Logged out." in page
    assert "Logged out." not in operator.get("/admin/login").get_data(as_text=True)
    assert stored(db) == []


# --- lifetimes ---------------------------------------------------------------------------------

def test_a_session_ends_after_the_idle_time_without_requests(make_settings, clock):
    app = admin_app(make_settings, admin={"session_idle_minutes": 30})
    db = app.extensions["affiliate"].db
    client = app.test_client()
    log_in(client, db)

    clock.advance(minutes=29)
    assert logged_in(client)
    clock.advance(minutes=29)  # 29 minutes after the last request: still alive
    assert logged_in(client)
    clock.advance(minutes=30)

    assert not logged_in(client)
    assert stored(db) == []  # the expired row went with it
    db.dispose()


def test_a_session_ends_at_its_absolute_lifetime_however_busy(make_settings, clock):
    app = admin_app(make_settings, admin={"session_hours": 1, "session_idle_minutes": 60})
    db = app.extensions["affiliate"].db
    client = app.test_client()
    log_in(client, db)
    other = copy_of(client, app)

    for _ in range(5):
        clock.advance(minutes=11)
        assert logged_in(client)
    clock.advance(minutes=5)  # 60 minutes since login

    assert not logged_in(client) and not logged_in(other)
    db.dispose()


def test_the_cookie_expires_with_the_absolute_lifetime(make_settings, clock):
    app = admin_app(make_settings, admin={"session_hours": 2})
    response = log_in(app.test_client(), app.extensions["affiliate"].db)

    cookie = response.headers["Set-Cookie"]
    expires = re.search(r"Expires=([^;]+)", cookie)[1]
    assert expires == (clock.now() + sessions.Lifetimes.of(
        app.extensions["affiliate"].settings.admin).absolute).strftime("%a, %d %b %Y %H:%M:%S GMT")
    app.extensions["affiliate"].db.dispose()


def test_a_new_login_drops_expired_rows(make_settings, clock):
    app = admin_app(make_settings, admin={"session_idle_minutes": 10})
    db = app.extensions["affiliate"].db
    log_in(app.test_client(), db)
    clock.advance(minutes=11)

    log_in(app.test_client(), db, create=False)

    assert len(stored(db)) == 1
    db.dispose()


def test_idle_time_must_be_sane(make_settings):
    from affiliate.config import ConfigError

    with pytest.raises(ConfigError, match="session_idle_minutes"):
        make_settings(admin={"session_idle_minutes": 0})


# --- the cookie and the table ----------------------------------------------------------------

def test_the_cookie_is_an_opaque_random_id_and_the_table_keeps_only_its_digest(operator, db):
    value = cookie_of(operator)
    user_id = stored(db)[0].user_id

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    decoded = base64.urlsafe_b64decode(value + "=")
    assert len(decoded) == 32 and USERNAME.encode() not in decoded
    with pytest.raises(ValueError):  # random bytes, not a serialized session
        json.loads(decoded)
    assert "." not in value  # no signed payload (Flask's cookie is payload.time.signature)
    row = stored(db)[0]
    assert row.id_hash == hashlib.sha256(value.encode()).hexdigest() and row.user_id == user_id
    assert all(value not in (row.id_hash, row.data, row.agent) for row in stored(db))


def test_a_digest_from_the_table_is_no_cookie(app, operator, db):
    thief = app.test_client()
    thief.set_cookie(COOKIE, stored(db)[0].id_hash, path="/admin")

    assert not logged_in(thief)


def test_a_planted_session_id_is_replaced_at_login(app, db):
    client = app.test_client()
    planted = "A" * 43
    client.set_cookie(COOKIE, planted, path="/admin")

    log_in(client, db)

    assert cookie_of(client) != planted
    attacker = app.test_client()
    attacker.set_cookie(COOKIE, planted, path="/admin")
    assert not logged_in(attacker)


def test_a_visitor_who_only_sees_the_login_page_costs_no_row(app, db):
    for _ in range(3):
        assert app.test_client().get("/admin/login").status_code == 200

    assert stored(db) == []


def test_notices_survive_from_one_request_to_the_next_in_another_process(operator, other_process, db):
    """A flashed notice lives in the session row, so the next page may come from any process."""
    moved = copy_of(operator, other_process)
    response = post(operator, "/admin/providers/demo/refresh")
    assert response.status_code == 303

    assert "Refresh of demo started" in moved.get("/admin/providers").get_data(as_text=True)


def test_the_admin_api_reads_no_session_cookie(operator):
    assert operator.get("/admin/api/v1/providers").status_code == 401


# --- the sessions page -----------------------------------------------------------------------

def test_the_sessions_page_lists_this_operators_sessions(app, db, clock):
    laptop, phone, colleague = app.test_client(), app.test_client(), app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = FIREFOX
    phone.environ_base["HTTP_USER_AGENT"] = SAFARI_IOS
    log_in(laptop, db)
    clock.advance(minutes=5)
    log_in(phone, db, create=False)
    log_in(colleague, db, username="colleague")
    clock.advance(minutes=3)

    page = laptop.get("/admin/sessions").get_data(as_text=True)

    assert "Firefox on Linux" in page and "Safari on iOS" in page
    assert page.count("this browser") == 1 and page.count(">End<") == 1
    assert page.count("<tr>") == 3  # header + two sessions; the colleague's is not shown
    rows = {row.agent: row for row in stored(db)}
    assert rows["Safari on iOS"].created_at > rows["Firefox on Linux"].created_at
    assert when(rows["Safari on iOS"].created_at) in page
    assert when(clock.now()) in page  # the laptop was seen just now
    assert FIREFOX not in page and all(len(row.agent) <= 80 for row in stored(db))


def test_ending_one_session_from_the_page(app, db):
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, db)
    log_in(phone, db, create=False)
    phone_row = next(row for row in stored(db)
                     if row.id_hash == hashlib.sha256(cookie_of(phone).encode()).hexdigest())

    response = post(laptop, f"/admin/sessions/{phone_row.id}/end", page="/admin/sessions")

    assert response.status_code == 303
    assert not logged_in(phone) and logged_in(laptop)


@pytest.mark.parametrize("row_id", ["999", str(2**31 - 1), str(2**31), str(2**63)])
def test_ending_an_unknown_session_is_a_404(operator, row_id):
    response = post(operator, f"/admin/sessions/{row_id}/end", page="/admin/sessions")

    assert response.status_code == 404
    assert logged_in(operator)


def test_ending_a_colleagues_session_is_a_404(app, db, operator):
    colleague = app.test_client()
    log_in(colleague, db, username="colleague")
    foreign = next(row.id for row in stored(db)
                   if row.id_hash == hashlib.sha256(cookie_of(colleague).encode()).hexdigest())

    response = post(operator, f"/admin/sessions/{foreign}/end", page="/admin/sessions")

    assert response.status_code == 404 and logged_in(colleague)


@pytest.mark.parametrize("token_id", [str(2**31), str(2**63), "99999999999999999999999"])
def test_revoking_a_token_id_beyond_the_column_is_a_404(operator, token_id):
    response = post(operator, f"/admin/tokens/{token_id}/revoke", page="/admin/tokens")

    assert response.status_code == 404


# --- the password page -----------------------------------------------------------------------

NEW_PASSWORD = "a completely different passphrase"


def change_password(client, current=PASSWORD, new=NEW_PASSWORD, repeated=None,
                    address="203.0.113.7"):
    return post(client, "/admin/password", page="/admin/password",
                data={"current_password": current, "new_password": new,
                      "repeated_password": new if repeated is None else repeated},
                environ_base={"REMOTE_ADDR": address})


def logs_in(app, password: str) -> bool:
    client = app.test_client()
    return client.post("/admin/login", data={"username": USERNAME, "password": password,
                                            "csrf_token": csrf_token(client)}).status_code == 303


def test_the_password_page_asks_for_the_current_one_and_the_new_one_twice(operator):
    html = operator.get("/admin/password").get_data(as_text=True)

    for field, autocomplete in (("current_password", "current-password"),
                                ("new_password", "new-password"),
                                ("repeated_password", "new-password")):
        assert f'name="{field}" type="password" autocomplete="{autocomplete}"' in html
    assert f'minlength="{auth.MIN_PASSWORD_LENGTH}"' in html
    assert 'href="/admin/password"' in operator.get("/admin/sessions").get_data(as_text=True)


def test_a_new_password_keeps_this_browser_and_ends_every_other_session(app, other_process,
                                                                         operator, db):
    laptop = other_process.test_client()
    log_in(laptop, db, create=False)
    thief = copy_of(operator, app)
    before = cookie_of(operator)

    response = change_password(operator)

    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/sessions")
    assert "Password changed" in operator.get(response.headers["Location"]).get_data(as_text=True)
    assert cookie_of(operator) != before and logged_in(operator)  # a new session here
    assert not logged_in(laptop) and not logged_in(thief)
    assert logs_in(app, NEW_PASSWORD) and not logs_in(app, PASSWORD)


@pytest.mark.parametrize(("current", "new", "repeated", "reason"), [
    (PASSWORD, "short", "short", "at least 10 characters"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "repetition differ"),
    (PASSWORD, PASSWORD, PASSWORD, "is the current one"),
    ("not my password", NEW_PASSWORD, NEW_PASSWORD, "current password is wrong"),
    ("", NEW_PASSWORD, NEW_PASSWORD, "current password is wrong"),
], ids=["short", "repeated differently", "unchanged", "wrong current", "no current"])
def test_a_bad_password_form_is_a_400_naming_why_and_changes_nothing(app, operator, current, new,
                                                                     repeated, reason):
    response = change_password(operator, current, new, repeated)

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert reason in html and "Nothing was changed." in html
    assert logged_in(operator) and logs_in(app, PASSWORD)
    assert new == PASSWORD or not logs_in(app, new)


def test_wrong_current_passwords_count_toward_the_login_limit(make_settings, clock):
    app = admin_app(make_settings, admin={"login_attempts_per_address": 3})
    operator = app.test_client()
    log_in(operator, app.extensions["affiliate"].db)
    for _ in range(3):
        assert change_password(operator, current="a wrong guess").status_code == 400

    locked = change_password(operator)  # the right one, from that address: refused unchecked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in locked.get_data(as_text=True)
    assert change_password(operator, address="198.51.100.4").status_code == 303
    app.extensions["affiliate"].db.dispose()


def test_the_right_current_password_clears_the_count(make_settings, clock):
    app = admin_app(make_settings, admin={"login_attempts_per_address": 3})
    operator = app.test_client()
    log_in(operator, app.extensions["affiliate"].db)
    for _ in range(2):
        change_password(operator, current="a wrong guess")
    assert change_password(operator).status_code == 303

    for _ in range(2):  # counted from nothing again: two more are not yet three
        assert change_password(operator, current="a wrong guess").status_code == 400
    assert change_password(operator, current=NEW_PASSWORD, new=PASSWORD).status_code == 303
    app.extensions["affiliate"].db.dispose()


def test_the_password_form_needs_its_pages_csrf_token(operator):
    response = operator.post("/admin/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "repeated_password": NEW_PASSWORD})

    assert response.status_code == 400 and logged_in(operator)


# --- the CLI -----------------------------------------------------------------------------------

def test_list_sessions_shows_who_is_logged_in_where(app, db, run):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    log_in(client, db)

    everyone, one = run("admin", "list-sessions"), run("admin", "list-sessions", USERNAME)

    for result in (everyone, one):
        assert result.exit_code == 0, result.output
        assert f"{USERNAME}  Firefox on Linux  logged in " in result.output
    assert cookie_of(client) not in everyone.output


def test_list_sessions_says_when_there_are_none(app, db, run):
    auth.create_user(db, USERNAME, PASSWORD)

    assert "No live sessions." in run("admin", "list-sessions").output
    assert f"{USERNAME} has no live sessions." in run("admin", "list-sessions", USERNAME).output


@pytest.mark.parametrize("command", ["list-sessions", "revoke-sessions"])
def test_session_commands_name_an_unknown_user(app, run, command):
    result = run("admin", command, "nobody")

    assert result.exit_code == 1
    assert "no user 'nobody'" in result.output


def test_revoke_sessions_counts_and_leaves_other_operators_alone(app, db, run):
    mine, theirs = app.test_client(), app.test_client()
    log_in(mine, db)
    log_in(app.test_client(), db, create=False)
    log_in(theirs, db, username="colleague")

    result = run("admin", "revoke-sessions", USERNAME)

    assert result.exit_code == 0 and f"Ended 2 sessions of {USERNAME}" in result.output
    assert not logged_in(mine) and logged_in(theirs)


# --- the coarse user agent -----------------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    (FIREFOX, "Firefox on Linux"),
    (SAFARI_IOS, "Safari on iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36", "Chrome on macOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/126.0.0.0 Safari/537.36", "Chrome on Linux"),
    ("curl/8.5.0", "curl"),
    ("<script>alert(1)</script>", "unknown browser"),
    ("", "unknown browser"),
    (None, "unknown browser"),
])
def test_a_user_agent_is_cut_down_to_browser_and_system(header, expected):
    assert user_agents.coarse(header) == expected
