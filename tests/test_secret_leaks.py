"""No secret ever shows: every secret configured in the suite is looked for in every test's
logs (at DEBUG), Flask responses and command output by the `leak_watch` fixture
(tests/secret_leaks.py). Here: proof that the watch catches a leak, and the operator's
commands and pages run with secrets set in all three places, while refusals are logged."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import click
import pytest
import responses
from click.testing import CliRunner
from cryptography.fernet import Fernet
from flask import Flask
from pydantic import SecretStr

from affiliate import create_app
from affiliate.__main__ import main
from affiliate.config import load_settings
from affiliate.credentials import KEY_VARIABLE
from providers.pacing import Pacer
from providers.watchmode import WatchmodeProvider

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
RECORDINGS = Path(__file__).parent / "recordings"
KEY = Fernet.generate_key().decode()
TMDB_TOKEN = "eyJ-leak-test-tmdb-token-5d1f0a"
WM_KEY = "wm-leak-test-ENV-key-c93e71"
MOTN_KEY = "motn-leak-test-STORED-4b8a26"
AMAZON_ID = "amzn-leak-test-id-0f3c5e"
AMAZON_SECRET = "amzn-leak-test-SECRET-9a7d14"
SECRETS = (TMDB_TOKEN, WM_KEY, MOTN_KEY, AMAZON_ID, AMAZON_SECRET)


# --- The watch itself ---------------------------------------------------------------------


def test_the_watch_runs_for_every_test(request):
    assert "leak_watch" in request.fixturenames


def test_secrets_are_registered_as_they_are_configured(secrets_registry):
    SecretStr("registered-when-created-8e21")
    WatchmodeProvider.Settings(type="watchmode", api_key="registered-by-settings-77b0")
    SecretStr("short")

    assert "registered-when-created-8e21" in secrets_registry
    assert "registered-by-settings-77b0" in secrets_registry
    assert "short" not in secrets_registry


def test_the_watch_finds_a_secret_in_a_debug_log_a_response_and_command_output(
        leak_watch, secrets_registry, caplog):
    secret = "leaked-on-purpose-5e7d1c"
    secrets_registry.add(secret)
    app = Flask("leaky")
    app.add_url_rule("/body", "body", lambda: f"token={secret}")
    app.add_url_rule("/header", "header", lambda: ("ok", 200, {"X-Debug": secret}))

    logging.getLogger("affiliate.anywhere").debug("calling with %s", secret)
    try:
        raise RuntimeError(f"refused {secret}")
    except RuntimeError:
        logging.getLogger("providers.anywhere").exception("it failed")
    app.test_client().get("/body")
    app.test_client().get("/header")
    CliRunner().invoke(click.Command("leaky", callback=lambda: click.echo(secret)))

    leaks = leak_watch.leaks()
    assert [leak.split(":")[0] for leak in leaks] == [
        "log affiliate.anywhere DEBUG", "log providers.anywhere ERROR", "response 200 /body",
        "response 200 /header", "command leaky"]
    assert secret not in "\n".join(leaks)  # the report masks what it found
    # DEBUG is read by the watch only: the other handlers saw what the levels let through.
    assert [record.levelname for record in caplog.records] == ["ERROR"]
    leak_watch.reset()


def test_a_leak_fails_the_test_that_let_it_out(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest("from tests.conftest import leak_watch, secrets_registry  # noqa: F401\n")
    pytester.makepyfile("""
        import logging

        def test_leaks(secrets_registry):
            secrets_registry.add("inner-secret-value-31c7")
            logging.getLogger("x").debug("oops %s", "inner-secret-value-31c7")

        def test_keeps_it(secrets_registry):
            secrets_registry.add("inner-secret-value-31c7")
            logging.getLogger("x").debug("fine")
    """)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*secrets leaked:*", "*log x DEBUG: ...31c7 (23 characters)*"])


# --- Every command and page, secrets set three ways -----------------------------------------


@pytest.fixture
def service(database_url, tmp_path, monkeypatch):
    """Secrets in config.toml (TMDB), the environment (Watchmode) and the store (Movie of the
    Night, Amazon); every source refuses them."""
    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{database_url}"\n'
        '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n'
        f'[providers.tmdb]\ntype = "tmdb"\nread_access_token = "{TMDB_TOKEN}"\n'
        '[providers.wm]\ntype = "watchmode"\n'
        '[providers.motn]\ntype = "streaming-availability"\n'
        '[providers.amazon]\ntype = "amazon"\ncredential_version = "2.1"\npartner_tag = "yoursite-20"\n')
    monkeypatch.setenv("AFFILIATE_PROVIDERS__WM__API_KEY", WM_KEY)
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        for source, url, name, status in [
            ("tmdb", "https://api.themoviedb.org", "error_401.json", 401),
            ("watchmode", "https://api.watchmode.com", "error_401.json", 401),
            ("streaming_availability", "https://streaming-availability.p.rapidapi.com",
             "not_subscribed.json", 403),
            ("amazon", "https://creatorsapi.auth.us-east-1.amazoncognito.com",
             "token_invalid_client_cognito.json", 400),
        ]:
            body = (RECORDINGS / source / name).read_text()
            for method in (responses.GET, responses.POST):
                api.add(method, re.compile(re.escape(url) + "/.*"), body=body, status=status,
                        content_type="application/json")
        yield CliRunner()


def test_commands_never_show_a_secret_and_sql_at_debug_holds_none(service):
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        outputs = _operate(service)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)

    text = "\n".join(outputs)
    assert "rejected by tmdb" in text and "rejected by amazon" in text  # the refusals are shown
    assert not [secret for secret in SECRETS if secret in text]


def _operate(runner: CliRunner) -> list[str]:
    def run(*args: str, input: str | None = None) -> str:
        return runner.invoke(main, list(args), input=input).output

    outputs = [run("db", "upgrade")]
    outputs.append(run("providers", "set-credentials", "motn", input=f"{MOTN_KEY}\n"))
    outputs.append(run("providers", "set-credentials", "amazon", "--stdin",
                       input=f"credential_id={AMAZON_ID}\ncredential_secret={AMAZON_SECRET}\n"))
    outputs.append(run("refresh"))
    outputs.append(run("refresh", "--film", "imdb:tt0113627"))
    outputs.append(run("refresh", "--film", "imdb:tt0113627"))  # now held by the auth blocks
    outputs.append(run("status"))
    outputs.append(run("providers", "list"))
    for name in ("tmdb", "wm", "motn", "amazon"):
        outputs.append(run("providers", "credentials", name))
        outputs.append(run("providers", "test", name))
    outputs.append(run("platforms", "sync"))
    return outputs


def test_pages_and_api_never_show_a_secret(service, database_url):
    service.invoke(main, ["db", "upgrade"])
    service.invoke(main, ["providers", "set-credentials", "motn", "--stdin"], input=f"api_key={MOTN_KEY}\n")
    service.invoke(main, ["refresh"])
    client = create_app(load_settings()).test_client()
    pages = [client.get(path) for path in (
        "/", "/widgets/how-to-watch/imdb:tt0113627?region=US",
        "/widgets/related-products/imdb:tt0113627?region=US",
        "/api/v1/films/imdb:tt0113627/offers?region=US", "/api/v1/films/imdb:tt0113627/products",
        "/widgets/how-to-watch/imdb:tt9999999", "/api/v1/films/nonsense/offers")]

    assert [page.status_code for page in pages] == [200, 200, 200, 200, 200, 404, 400]
    text = "\n".join(page.get_data(as_text=True) + str(page.headers) for page in pages)
    assert not [secret for secret in SECRETS if secret in text]
