"""Helpers for the admin console and API tests: an app with a secret key whose background
refreshes run at once, a logged-in test client, the CSRF token of a page, and API tokens."""
from __future__ import annotations

import re
from functools import partial

from werkzeug.security import generate_password_hash

from affiliate import create_app
from affiliate.admin import auth
from affiliate.catalog import prepare
from tests.secret_leaks import secrets_registry

SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"
USERNAME, PASSWORD = "operator", "correct horse battery staple"
secrets_registry.add(PASSWORD)  # the leak watch fails any test that lets it out
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def fast_password_hashing(monkeypatch) -> None:
    """scrypt as the console uses it costs half a second a hash here (that is its point);
    tests hash with a 32 times cheaper work factor, which check_password_hash reads back
    from the hash itself."""
    monkeypatch.setattr(auth, "generate_password_hash",
                        partial(generate_password_hash, method="scrypt:1024:8:1"))


def admin_app(make_settings, secret_key: str | None = SECRET_KEY, **sections):
    admin = {**({"secret_key": secret_key} if secret_key else {}), **sections.pop("admin", {})}
    app = create_app(make_settings(admin=admin, **sections))
    app.config["TESTING"] = True
    prepare(app.extensions["affiliate"].db)
    # "Refresh now" for a provider runs in a thread in production; here, before the answer.
    app.extensions["affiliate_admin"].refresher.start = lambda job: job()
    return app


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def csrf_token(client, page: str = "/admin/login") -> str:
    return csrf_from(client.get(page).get_data(as_text=True))


def log_in(client, db, username: str = USERNAME, password: str = PASSWORD, create: bool = True):
    if create:
        auth.create_user(db, username, password)
    response = client.post("/admin/login", data={
        "username": username, "password": password, "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def post(client, path: str, data: dict | None = None, page: str = "/admin/providers", **kwargs):
    """POST a console form the way a browser does: with the token of the page it came from."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})}, **kwargs)


def bearer(db, name: str = "test") -> dict[str, str]:
    _, secret = auth.create_token(db, name)
    secrets_registry.add(secret)
    return {"Authorization": f"Bearer {secret}"}


def shown_once(leak_watch, secret: str) -> None:
    """A token was just shown on purpose (once, to the operator who made it): forget that
    output, and watch for the token everywhere from now on."""
    leak_watch.reset()
    secrets_registry.add(secret)
