"""Provider credentials: three sources in order, encrypted storage, key rotation, the check
each adapter makes, and the commands that manage them."""
from __future__ import annotations

import json

import pytest
import responses
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlmodel import select

from affiliate import credentials
from affiliate.__main__ import main
from affiliate.config import ConfigError, load_settings
from affiliate.credential_store import WRONG_KEY
from affiliate.credentials import KEY_VARIABLE, CredentialsError, check, save, status
from affiliate.models import ProviderCredential, ProviderState
from affiliate.refresh import RefreshEngine
from affiliate.sources import UnknownProvider, build
from affiliate.sources import effective_table as provider_config
from providers.pacing import Pacer
from tests.recorded import recorded_text

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()

WM_STORED = "wm-STORED-7c1e9b2a4410"
WM_STORED_2 = "wm-STORED-ffe01d9c3377"
WM_CONFIG = "wm-CONFIG-55aa01c8d2e6"
WM_ENV = "wm-ENVIRON-93bd2f6a0b18"
TMDB_TOKEN = "eyJ-tmdb-read-token-0042-a8c1"
MOTN_KEY = "motn-rapid-KEY-6b2e91d04c"
AMAZON_ID = "amzn-credential-id-77d3a1"
AMAZON_SECRET = "amzn-SECRET-value-3c9f0e12"

WM_STATUS = "https://api.watchmode.com/v1/status/"
TMDB_AUTH = "https://api.themoviedb.org/3/authentication"
MOTN_GENRES = "https://streaming-availability.p.rapidapi.com/genres"
COGNITO = "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token"
GET_ITEMS = "https://creatorsapi.amazon/catalog/v1/getItems"


@pytest.fixture
def settings(make_settings):
    return make_settings(providers={
        "demo": {"type": "feed", "url": "builtin:demo"},
        "wm": {"type": "watchmode", "regions": ["US"]},
        "tmdb": {"type": "tmdb"},
        "motn": {"type": "streaming-availability"},
        "amazon": {"type": "amazon", "credential_version": "2.1", "partner_tag": "yoursite-20",
                   "discover": False},
    })


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, KEY_A)


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def watchmode_status(api, status_code: int = 200, name: str = "status.json"):
    return api.get(WM_STATUS, body=recorded_text(f"watchmode/{name}"), status=status_code,
                   content_type="application/json")


def stored_rows(db) -> list[ProviderCredential]:
    with db.session() as session:
        return list(session.exec(select(ProviderCredential).order_by(ProviderCredential.id)))


def provider_state(db, name: str) -> ProviderState | None:
    with db.session() as session:
        return session.get(ProviderState, name)


# --- Where a credential comes from ---------------------------------------------------------


def test_config_may_leave_credentials_out_but_not_get_other_keys_wrong():
    settings = load_settings(providers={"wm": {"type": "watchmode"}, "tmdb": {"type": "tmdb"}})
    assert settings.providers["wm"] == {"type": "watchmode"}

    with pytest.raises(ConfigError, match=r"providers\.wm\.regions"):
        load_settings(providers={"wm": {"type": "watchmode", "regions": ["XX"]}})
    with pytest.raises(ConfigError, match=r"providers\.amazon\.credential_version"):
        load_settings(providers={"amazon": {"type": "amazon", "credential_version": "4.1"}})


def test_environment_wins_over_stored_which_wins_over_config(database_url, db, key, monkeypatch, tmp_path):
    (tmp_path / "config.toml").write_text(f'[providers.wm]\ntype = "watchmode"\napi_key = "{WM_CONFIG}"\n')

    def effective() -> tuple[str, str]:
        settings = load_settings(service={"database_url": database_url})
        engine = RefreshEngine(db, settings)
        value = engine.provider("wm").settings.api_key.get_secret_value()
        engine.close()
        return value, status(db, settings, "wm").source["api_key"]

    assert effective() == (WM_CONFIG, "config")

    save(db, load_settings(service={"database_url": database_url}), "wm", {"api_key": WM_STORED},
         verify=False)
    assert effective() == (WM_STORED, "stored")

    monkeypatch.setenv("AFFILIATE_PROVIDERS__WM__API_KEY", WM_ENV)
    assert effective() == (WM_ENV, "environment")
    report = status(db, load_settings(service={"database_url": database_url}), "wm")
    assert report.env_vars == {"api_key": "AFFILIATE_PROVIDERS__WM__API_KEY"}
    assert report.masked == {"api_key": "••••0b18"}


def test_a_field_the_environment_sets_cannot_be_stored(settings, db, key, monkeypatch):
    monkeypatch.setenv("AFFILIATE_PROVIDERS__WM__API_KEY", WM_ENV)

    with pytest.raises(CredentialsError, match="set by the environment .AFFILIATE_PROVIDERS__WM__API_KEY."):
        save(db, settings, "wm", {"api_key": WM_STORED})
    assert stored_rows(db) == []


def test_a_long_running_engine_uses_credentials_saved_after_it_started(settings, db, key):
    engine = RefreshEngine(db, settings)
    assert "api_key is not set" in credentials.problem(engine.provider("wm"))

    save(db, settings, "wm", {"api_key": WM_STORED}, verify=False)

    provider = engine.provider("wm")
    assert credentials.problem(provider) is None
    assert provider.settings.api_key.get_secret_value() == WM_STORED
    engine.close()


def test_fields_are_the_adapters_declared_credentials_with_labels(settings):
    tmdb = credentials.fields(settings, "tmdb")
    amazon = credentials.fields(settings, "amazon")

    assert [(f.name, f.label, f.secret) for f in tmdb] == [
        ("read_access_token", "Read access token", True), ("api_key", "API key", True)]
    assert [(f.label, f.secret) for f in amazon] == [
        ("Credential ID", True), ("Credential secret", True), ("Credential version", False),
        ("Partner tag", False)]
    assert all(f.how_to_obtain for f in tmdb + amazon)
    assert credentials.fields(settings, "demo") == ()


# --- Stored encrypted ------------------------------------------------------------------------


def test_values_are_stored_encrypted_with_at_most_a_four_character_hint(settings, db, key):
    save(db, settings, "wm", {"api_key": f"  {WM_STORED}\n"}, verify=False)

    [row] = stored_rows(db)
    assert (row.provider, row.field, row.hint) == ("wm", "api_key", "4410")
    assert WM_STORED not in row.ciphertext and "4410" not in row.ciphertext
    payload = json.loads(Fernet(KEY_A).decrypt(row.ciphertext.encode()))
    assert payload == {"provider": "wm", "field": "api_key", "value": WM_STORED}


@pytest.mark.parametrize("value, shown", [
    ("abcdefghijklmnop", "••••mnop"), ("abcdefghijkl", "••••jkl"), ("abcdefgh", "••••gh"),
    ("abc", "••••"), ("", "••••"),
])
def test_masks_show_four_characters_at_most_and_fewer_of_short_secrets(value, shown):
    assert credentials.mask(value) == shown


def test_a_ciphertext_moved_to_another_field_does_not_open(settings, db, key):
    save(db, settings, "wm", {"api_key": WM_STORED}, verify=False)
    save(db, settings, "motn", {"api_key": MOTN_KEY}, verify=False)
    with db.session() as session:
        wm, motn = session.exec(select(ProviderCredential).order_by(ProviderCredential.id)).all()
        motn.ciphertext = wm.ciphertext
        session.add(motn)

    report = status(db, settings, "motn")

    assert not report.readable and "belongs to another provider or field" in report.state


def test_saving_without_a_key_names_the_variable_and_how_to_make_one(settings, db):
    with pytest.raises(CredentialsError) as caught:
        save(db, settings, "wm", {"api_key": WM_STORED})

    assert KEY_VARIABLE in str(caught.value) and "affiliate credentials generate-key" in str(caught.value)
    assert stored_rows(db) == []


@pytest.mark.parametrize("values, message", [
    ({"apikey": WM_STORED}, "wm has no credential field apikey; its fields are api_key"),
    ({"api_key": "   "}, "nothing to save"),
    ({"api_key": "two\nlines-of-key"}, "api_key: contains a line break"),
    ({"api_key": "x" * 2001}, "api_key: longer than 2000 characters"),
])
def test_bad_values_are_refused_and_nothing_is_stored(settings, db, key, values, message):
    with pytest.raises(CredentialsError, match=message):
        save(db, settings, "wm", values)
    assert stored_rows(db) == []


def test_a_value_the_adapter_refuses_is_named_without_storing_anything(settings, db, key):
    with pytest.raises(CredentialsError) as caught:
        save(db, settings, "amazon", {"credential_id": AMAZON_ID, "credential_version": "4.1"})

    assert str(caught.value).startswith("amazon.credential_version: ")
    assert AMAZON_ID not in str(caught.value)
    assert stored_rows(db) == []


def test_unknown_providers_and_providers_without_credentials(settings, db, key):
    with pytest.raises(UnknownProvider, match="no provider named 'nope'"):
        status(db, settings, "nope")
    with pytest.raises(CredentialsError, match="takes no credentials"):
        save(db, settings, "demo", {"url": "x"})
    assert status(db, settings, "demo").state == "needs no credentials"
    assert check(db, settings, "demo").ok


def test_partial_saves_leave_other_fields_alone_and_delete_forgets(settings, db, key):
    save(db, settings, "amazon", {"credential_id": AMAZON_ID}, verify=False)
    report = status(db, settings, "amazon")
    assert report.source == {"credential_id": "stored", "credential_secret": "missing",
                             "credential_version": "config", "partner_tag": "config"}
    assert report.state.startswith("missing: credential_secret is not set")
    assert report.masked["partner_tag"] == "yoursite-20"  # not a secret: shown as it is

    save(db, settings, "amazon", {"credential_secret": AMAZON_SECRET, "credential_id": ""},
         verify=False)
    assert status(db, settings, "amazon").state == "not verified"

    assert credentials.delete(db, settings, "amazon", ["credential_secret"]) == 1
    assert [row.field for row in stored_rows(db)] == ["credential_id"]
    assert credentials.delete(db, settings, "amazon") == 1
    assert stored_rows(db) == []


# --- The wrong key, and rotation -----------------------------------------------------------


def test_a_wrong_key_reads_as_unreadable_and_the_provider_fails_cleanly(settings, demo, key, monkeypatch):
    db = demo
    save(db, settings, "wm", {"api_key": WM_STORED}, verify=False)
    monkeypatch.setenv(KEY_VARIABLE, KEY_B)

    report = status(db, settings, "wm")
    assert not report.readable and report.state == WRONG_KEY and report.ok is False
    assert report.masked == {"api_key": "••••4410"} and report.source == {"api_key": "stored"}
    assert check(db, settings, "wm") == credentials.CheckResult(False, WRONG_KEY)

    engine = RefreshEngine(db, settings)
    first, second = engine.run("wm"), engine.run("wm")
    engine.close()
    assert first[0].status == "failed" and "credentials unreadable" in first[0].error
    assert second[0].status == "skipped"  # held like refused credentials, without a call

    monkeypatch.setenv(KEY_VARIABLE, KEY_A)
    assert status(db, settings, "wm").readable


def test_without_any_key_stored_values_are_unreadable(settings, db, key, monkeypatch):
    save(db, settings, "wm", {"api_key": WM_STORED}, verify=False)
    monkeypatch.delenv(KEY_VARIABLE)

    state = status(db, settings, "wm").state
    assert state.startswith("credentials unreadable: AFFILIATE_CREDENTIALS_KEY is not set")

    monkeypatch.setenv(KEY_VARIABLE, "not-a-key")
    assert "key 1 is not a Fernet key" in status(db, settings, "wm").state


def test_rotation_reencrypts_with_the_first_key_so_the_old_one_can_go(settings, db, key, monkeypatch):
    save(db, settings, "wm", {"api_key": WM_STORED}, verify=False)
    save(db, settings, "motn", {"api_key": MOTN_KEY}, verify=False)
    monkeypatch.setenv(KEY_VARIABLE, f"{KEY_B}, {KEY_A}")
    assert status(db, settings, "wm").readable  # the old key still opens them

    rotation = credentials.rotate(db)

    assert rotation == credentials.Rotation(rotated=2, unreadable=())
    monkeypatch.setenv(KEY_VARIABLE, KEY_B)
    assert provider_config(db, settings, "wm")["api_key"] == WM_STORED
    assert provider_config(db, settings, "motn")["api_key"] == MOTN_KEY


def test_rotation_leaves_values_no_key_opens_and_names_them(settings, db, key, monkeypatch):
    save(db, settings, "wm", {"api_key": WM_STORED}, verify=False)
    monkeypatch.setenv(KEY_VARIABLE, KEY_B)
    before = stored_rows(db)[0].ciphertext

    assert credentials.rotate(db) == credentials.Rotation(rotated=0, unreadable=("wm.api_key",))
    assert stored_rows(db)[0].ciphertext == before


# --- Checked on save ------------------------------------------------------------------------


def test_saving_checks_with_one_real_call_and_keeps_the_verdict(settings, db, key, api):
    call = watchmode_status(api)

    result = save(db, settings, "wm", {"api_key": WM_STORED})

    assert result == credentials.CheckResult(True, "Watchmode accepted the key; 588 of 1000 monthly "
                                                   "credits left")
    assert call.calls[0].request.headers["X-API-Key"] == WM_STORED
    report = status(db, settings, "wm")
    assert report.state == "verified" and report.ok is True and report.checked_at is not None
    row = provider_state(db, "wm")
    assert row.credentials_ok and row.credentials_message == result.message


def test_a_refused_key_is_stored_and_reported_with_the_providers_reason(settings, db, key, api):
    watchmode_status(api, 401, "error_401.json")

    result = save(db, settings, "wm", {"api_key": WM_STORED})

    assert not result.ok
    assert result.message == ("rejected by wm: https://api.watchmode.com/v1/status/: HTTP 401")
    assert len(stored_rows(db)) == 1
    assert status(db, settings, "wm").state == f"check failed: {result.message}"


def test_new_credentials_are_not_verified_until_checked(settings, db, key, api):
    watchmode_status(api)
    save(db, settings, "wm", {"api_key": WM_STORED})

    save(db, settings, "wm", {"api_key": WM_STORED_2}, verify=False)

    assert status(db, settings, "wm").state == "not verified"
    assert status(db, settings, "wm").ok is None


def test_new_credentials_lift_an_auth_block_and_a_passing_check_lifts_any(settings, demo, key, api):
    db = demo
    watchmode_status(api, 401, "error_401.json")
    api.get("https://api.watchmode.com/v1/search/", status=401,
            body=recorded_text("watchmode/error_401.json"),
            content_type="application/json")
    save(db, settings, "wm", {"api_key": WM_STORED})
    engine = RefreshEngine(db, settings)
    assert engine.run("wm")[0].status == "failed"
    assert provider_state(db, "wm").auth_blocked_fingerprint is not None
    assert status(db, settings, "wm").state.startswith("check failed: refused during a refresh")

    save(db, settings, "wm", {"api_key": WM_STORED_2}, verify=False)
    assert provider_state(db, "wm").auth_blocked_fingerprint is None

    assert engine.run("wm")[0].status == "failed"  # the new key is refused too: blocked again
    assert provider_state(db, "wm").auth_blocked_fingerprint is not None
    api.replace(responses.GET, WM_STATUS, body=recorded_text("watchmode/status.json"),
                content_type="application/json")
    assert check(db, settings, "wm").ok
    row = provider_state(db, "wm")
    assert row.auth_blocked_fingerprint is None and row.consecutive_failures == 0
    engine.close()


def test_missing_credentials_stop_nothing_but_that_provider(settings, demo, key):
    report = status(demo, settings, "wm")
    assert report.state.startswith("missing: api_key is not set; set them with "
                                   "`affiliate providers set-credentials wm`")
    assert check(demo, settings, "wm").message.startswith("credentials missing: api_key is not set")

    engine = RefreshEngine(demo, settings)
    reports = engine.run()
    engine.close()

    by_name = {report.provider: report for report in reports}
    assert by_name["demo"].status == "complete"
    assert by_name["wm"].status == "failed" and "credentials missing" in by_name["wm"].error


def test_a_provider_without_usable_credentials_keeps_its_limits_and_refuses_every_call(settings, db):
    from providers.streaming_availability import StreamingAvailabilityProvider

    provider = build(db, settings, "motn")

    assert isinstance(provider, StreamingAvailabilityProvider) and provider.daily_quota == 100
    for call in (lambda: provider.fetch([]), lambda: provider.platform_directory("US"),
                 provider.check_credentials):
        with pytest.raises(credentials.CredentialsUnavailable, match="api_key is not set"):
            call()


# --- Each adapter's check ---------------------------------------------------------------


def test_tmdb_checks_with_validate_key(settings, db, key, api):
    ok = api.get(TMDB_AUTH, body=recorded_text("tmdb/authentication.json"), content_type="application/json")

    assert save(db, settings, "tmdb", {"read_access_token": TMDB_TOKEN}).message == \
        "TMDB accepted the read access token"
    assert ok.calls[0].request.headers["Authorization"] == f"Bearer {TMDB_TOKEN}"

    api.replace(responses.GET, TMDB_AUTH, body=recorded_text("tmdb/error_401.json"), status=401,
                content_type="application/json")
    result = check(db, settings, "tmdb")
    assert result == credentials.CheckResult(
        False, "rejected by tmdb: https://api.themoviedb.org/3/authentication: HTTP 401 (TMDB status 7: "
               "Invalid API key: You must be granted a valid key.)")


def test_streaming_availability_checks_with_the_genre_list(settings, db, key, api):
    ok = api.get(MOTN_GENRES, body=recorded_text("streaming_availability/genres.json"),
                 content_type="application/json",
                 headers={"X-RateLimit-Requests-Limit": "100", "X-RateLimit-Requests-Remaining": "97"})

    result = save(db, settings, "motn", {"api_key": MOTN_KEY})

    assert result.message == ("Streaming Availability accepted the key; 97 of 100 requests left "
                              "in the plan's period")
    assert ok.calls[0].request.headers["X-RapidAPI-Key"] == MOTN_KEY
    api.replace(responses.GET, MOTN_GENRES, status=403, content_type="application/json",
                body=recorded_text("streaming_availability/not_subscribed.json"))
    assert check(db, settings, "motn").message == (
        "rejected by motn: https://streaming-availability.p.rapidapi.com/genres: HTTP 403 "
        "(You are not subscribed to this API.)")


@pytest.mark.parametrize("token, items, ok, message", [
    ((200, "token_cognito.json"), (200, "get_items.json"), True,
     "Amazon accepted the credentials and the partner tag"),
    ((200, "token_cognito.json"), (404, "items_not_found.json"), True,
     "Amazon accepted the credentials and the partner tag"),
    ((200, "token_cognito.json"), (403, "not_eligible.json"), True,
     "Amazon accepted the credentials, but refuses this account's API calls for now"),
    ((400, "token_invalid_client_cognito.json"), None, False,
     "rejected by amazon: https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token: HTTP 400: "
     "the token endpoint refused the credentials (invalid_client)"),
    ((200, "token_cognito.json"), (400, "invalid_partner_tag.json"), False,
     "rejected by amazon: https://creatorsapi.amazon/catalog/v1/getItems: HTTP 400 (InvalidPartnerTag"),
])
def test_amazon_checks_with_a_token_and_one_item(settings, db, key, api, token, items, ok, message):
    api.post(COGNITO, status=token[0], body=recorded_text(f"amazon/{token[1]}"),
             content_type="application/json")
    if items:
        asked = api.post(GET_ITEMS, status=items[0], body=recorded_text(f"amazon/{items[1]}"),
                         content_type="application/json")

    result = save(db, settings, "amazon", {"credential_id": AMAZON_ID, "credential_secret": AMAZON_SECRET})

    assert result.ok is ok and result.message.startswith(message)
    if items:
        assert json.loads(asked.calls[0].request.body)["itemIds"] == ["B00C6FBZ8S"]


def test_a_check_that_cannot_reach_the_source_says_so(settings, db, key, api):
    watchmode_status(api, 503, "error_401.json")

    result = save(db, settings, "wm", {"api_key": WM_STORED})

    assert result == credentials.CheckResult(
        False, "could not reach wm: https://api.watchmode.com/v1/status/: HTTP 503")


def test_a_crashing_check_keeps_its_text_out_of_the_result(settings, db, key, monkeypatch):
    from providers.watchmode import WatchmodeProvider

    def crash(self):
        raise RuntimeError(f"boom {self.settings.api_key.get_secret_value()}")

    monkeypatch.setattr(WatchmodeProvider, "check_credentials", crash)

    result = save(db, settings, "wm", {"api_key": WM_STORED})

    assert result == credentials.CheckResult(False, "the check crashed (RuntimeError); see the log")


# --- The commands ---------------------------------------------------------------------------


@pytest.fixture
def run(database_url, tmp_path):
    (tmp_path / "config.toml").write_text(
        '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n'
        '[providers.wm]\ntype = "watchmode"\n'
        '[providers.amazon]\ntype = "amazon"\ncredential_version = "2.1"\npartner_tag = "yoursite-20"\n')
    runner = CliRunner()

    def invoke(*args, input=None, env=None):
        return runner.invoke(main, list(args), input=input, env={
            "AFFILIATE_SERVICE__DATABASE_URL": database_url, KEY_VARIABLE: KEY_A, **(env or {})})

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


def test_set_credentials_reads_a_hidden_prompt_and_checks(run, api):
    watchmode_status(api)

    result = run("providers", "set-credentials", "wm", input=f"{WM_STORED}\n")

    assert result.exit_code == 0, result.output
    assert "API key [not set; Enter keeps it]" in result.output and WM_STORED not in result.output
    assert "Stored api_key for wm, encrypted." in result.output
    assert "Check passed: Watchmode accepted the key; 588 of 1000 monthly credits left" in result.output
    shown = run("providers", "credentials", "wm").output
    assert shown.startswith("wm: verified (checked ") and "  api_key: ••••4410 (stored)" in shown


def test_set_credentials_reads_field_lines_from_stdin(run, api):
    api.post(COGNITO, body=recorded_text("amazon/token_cognito.json"), content_type="application/json")
    api.post(GET_ITEMS, body=recorded_text("amazon/get_items.json"), content_type="application/json")

    result = run("providers", "set-credentials", "amazon", "--stdin", input=(
        f"# from the vault\ncredential_id = {AMAZON_ID}\n\ncredential_secret={AMAZON_SECRET}\n"))

    assert result.exit_code == 0, result.output
    assert "Stored credential_id, credential_secret for amazon, encrypted." in result.output
    shown = run("providers", "credentials", "amazon").output
    assert f"credential_id: {credentials.mask(AMAZON_ID)} (stored)" in shown
    assert "credential_secret: ••••0e12 (stored)" in shown
    assert "partner_tag: yoursite-20 (config)" in shown


@pytest.mark.parametrize("lines, message", [
    ("api_key\n", "standard input line 1: expected FIELD=value"),
    (f"api_key={WM_STORED}\napi_key={WM_STORED_2}\n", "standard input line 2: api_key is given twice"),
    ("\n# nothing\n", "standard input held no FIELD=value line"),
    (f"apikey={WM_STORED}\n", "wm has no credential field apikey"),
])
def test_bad_stdin_stores_nothing_and_never_echoes_a_value(run, lines, message):
    result = run("providers", "set-credentials", "wm", "--stdin", input=lines)

    assert result.exit_code == 1 and message in result.output and "nothing was stored" in result.output
    assert WM_STORED not in result.output
    assert "api_key: not set" in run("providers", "credentials", "wm").output


def test_secrets_are_never_taken_from_the_command_line(run):
    result = run("providers", "set-credentials", "wm", "api_key=typed-on-the-command-line")

    assert result.exit_code == 2 and "unexpected extra argument" in result.output.lower()


def test_set_credentials_without_a_key_explains_how_to_make_one(run):
    result = run("providers", "set-credentials", "wm", "--stdin", input=f"api_key={WM_STORED}\n",
                 env={KEY_VARIABLE: ""})

    assert result.exit_code == 1
    assert "AFFILIATE_CREDENTIALS_KEY is not set" in result.output and "generate-key" in result.output


def test_providers_test_reports_and_exits_nonzero_on_failure(run, api):
    run("providers", "set-credentials", "wm", "--stdin", "--no-check", input=f"api_key={WM_STORED}\n")
    watchmode_status(api, 401, "error_401.json")

    result = run("providers", "test", "wm")

    assert result.exit_code == 1
    assert result.stdout.strip() == ("wm: failed: rejected by wm: "
                                     "https://api.watchmode.com/v1/status/: HTTP 401")
    assert run("providers", "test", "nope").exit_code == 1


def test_providers_list_shows_where_credentials_come_from_masked(run):
    run("providers", "set-credentials", "wm", "--stdin", "--no-check", input=f"api_key={WM_STORED}\n")

    output = run("providers", "list", env={"AFFILIATE_PROVIDERS__AMAZON__CREDENTIAL_ID": AMAZON_ID}).output

    assert "  credentials: not verified\n  api_key: ••••4410 (stored)" in output
    assert (f"credential_id: {credentials.mask(AMAZON_ID)} (set by environment: "
            "AFFILIATE_PROVIDERS__AMAZON__CREDENTIAL_ID)" in output)
    assert "credential_secret: not set (shown once" in output
    assert WM_STORED not in output and AMAZON_ID not in output


def test_clear_credentials_forgets_stored_values(run):
    run("providers", "set-credentials", "wm", "--stdin", "--no-check", input=f"api_key={WM_STORED}\n")

    assert "Removed 1 stored credential of wm." in run("providers", "clear-credentials", "wm").output
    assert "api_key: not set" in run("providers", "credentials", "wm").output


def test_generate_key_and_rotate(run):
    run("providers", "set-credentials", "wm", "--stdin", "--no-check", input=f"api_key={WM_STORED}\n")
    generated = CliRunner().invoke(main, ["credentials", "generate-key"]).stdout.strip()
    Fernet(generated)  # a usable key

    rotated = run("credentials", "rotate", env={KEY_VARIABLE: f"{generated},{KEY_A}"})

    assert rotated.exit_code == 0 and "Re-encrypted 1 stored credentials" in rotated.output
    shown = run("providers", "credentials", "wm", env={KEY_VARIABLE: generated}).output
    assert "api_key: ••••4410 (stored)" in shown
    stale = run("credentials", "rotate", env={KEY_VARIABLE: KEY_B})
    assert stale.exit_code == 1 and "No configured key opens wm.api_key" in stale.output
