"""No secret ever shows: every secret configured in the suite is looked for in every test's
logs (at DEBUG), Flask responses and command output by the `leak_watch` fixture
(tests/secret_leaks.py). Here: proof that the watch catches a leak, and, for every registered
provider type through its declared case (providers/testing.py), the operator's commands and
pages run with its secrets set in one of the three places while its source refuses them."""
from __future__ import annotations

import json
import logging
import re
from contextlib import ExitStack
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
from affiliate.limits import ProviderLimiter
from providers import registry
from providers.pacing import Pacer
from providers.testing import ProviderCase
from providers.watchmode import WatchmodeProvider
from tests.provider_cases import covered, first_cases
from tests.recorded import route_body

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
KEY = Fernet.generate_key().decode()
PLACES = ("config", "environment", "store")


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


# --- Every provider type's commands and pages, secrets set three ways ------------------------


def placements(case: ProviderCase) -> dict[str, str]:
    """Where each of the case's secret credentials is set: config.toml, the environment or the
    credential store, in turn over the registered types, so the suite uses all three."""
    cls = registry.PROVIDER_TYPES[case.type_name]
    offset = sorted(registry.PROVIDER_TYPES).index(case.type_name)
    secret = [c.name for c in cls.credentials if c.secret and c.name in case.config]
    return {name: PLACES[(offset + index) % len(PLACES)] for index, name in enumerate(secret)}


def toml_value(value: object) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists of them read the same


@pytest.fixture
def service(database_url, tmp_path, monkeypatch):
    """A site with the demo catalog and one source of a registered type, its secrets placed by
    `placements`; the source refuses them (or, declaring no refusal, answers its good routes).
    Yields (runner, case, source name, secrets placed in the store)."""

    def start(case: ProviderCase):
        name = case.type_name.replace("-", "_")
        placed = placements(case)
        table = "".join(f"{key} = {toml_value(value)}\n" for key, value in case.config.items()
                        if placed.get(key, "config") == "config")
        (tmp_path / "config.toml").write_text(
            f'[service]\ndatabase_url = "{database_url}"\n'
            '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n'
            f"[providers.{name}]\n{table}")
        for key, place in placed.items():
            if place == "environment":
                monkeypatch.setenv(f"AFFILIATE_PROVIDERS__{name.upper()}__{key.upper()}",
                                   str(case.config[key]))
        stored = {key: str(case.config[key]) for key, place in placed.items() if place == "store"}
        api = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        for route in case.refused:
            for method in (responses.GET, responses.POST):
                api.add(method, re.compile(re.escape(route.url) + ".*"), body=route_body(case, route),
                        status=route.status, content_type=route.content_type)
        if not case.refused:
            for route in case.good:
                api.add(route.method, route.url, body=route_body(case, route), status=route.status,
                        content_type=route.content_type)
        return CliRunner(), name, stored

    monkeypatch.setenv(KEY_VARIABLE, KEY)
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    monkeypatch.setattr(ProviderLimiter, "acquire", lambda self: None)  # test_limits.py's part
    with ExitStack() as stack:
        yield start


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in first_cases()])
def test_commands_and_pages_never_show_a_secret_and_sql_at_debug_holds_none(service, case):
    case = covered(case)
    runner, name, stored = service(case)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        outputs = _operate(runner, name, stored)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)
    client = create_app(load_settings()).test_client()
    pages = [client.get(path) for path in (
        "/", "/widgets/how-to-watch/imdb:tt0113627?region=US",
        "/widgets/related-products/imdb:tt0113627?region=US",
        "/api/v1/films/imdb:tt0113627/offers?region=US", "/api/v1/films/imdb:tt0113627/products",
        "/widgets/how-to-watch/imdb:tt9999999", "/api/v1/films/nonsense/offers")]

    assert [page.status_code for page in pages] == [200, 200, 200, 200, 200, 404, 400]
    text = "\n".join(outputs + [page.get_data(as_text=True) + str(page.headers) for page in pages])
    if case.refused:
        assert f"rejected by {name}" in text  # the refusal is shown
    assert not [secret for secret in case.secrets if secret in text]


def _operate(runner: CliRunner, name: str, stored: dict[str, str]) -> list[str]:
    def run(*args: str, input: str | None = None) -> str:
        return runner.invoke(main, list(args), input=input).output

    outputs = [run("db", "upgrade")]
    if stored:
        outputs.append(run("providers", "set-credentials", name, "--stdin",
                           input="".join(f"{key}={value}\n" for key, value in stored.items())))
    outputs.append(run("refresh"))
    outputs.append(run("refresh", "--film", "imdb:tt0113627"))
    outputs.append(run("refresh", "--film", "imdb:tt0113627"))  # now held by any auth block
    outputs.append(run("status"))
    outputs.append(run("providers", "list"))
    outputs.append(run("providers", "credentials", name))
    outputs.append(run("providers", "test", name))
    outputs.append(run("platforms", "sync"))
    return outputs
