"""Settings from config.toml and the environment; bad values name their key."""
from __future__ import annotations

import pytest

from affiliate.config import ConfigError, load_settings
from providers.base import Relation


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_serve_the_demo_on_sqlite():
    settings = load_settings()

    assert settings.service.database_url == "sqlite:///affiliate.db"
    assert settings.providers["demo"]["url"] == "builtin:demo"


def test_config_toml_in_the_working_directory_is_read(tmp_path):
    write(tmp_path, '[service]\ndefault_region = "gb"\ndefault_locale = "en-GB"\n')

    settings = load_settings()

    assert (settings.service.default_region, settings.service.default_locale) == ("GB", "en_GB")


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    write(tmp_path, '[service]\nport = 8000\n')
    monkeypatch.setenv("AFFILIATE_SERVICE__PORT", "9000")

    assert load_settings().service.port == 9000


def test_a_wrong_value_names_its_key(tmp_path):
    write(tmp_path, '[service]\ndefault_region = "Narnia"\n')

    with pytest.raises(ConfigError, match=r"service\.default_region.*'Narnia' is not an ISO 3166-1"):
        load_settings()


def test_an_unknown_key_is_refused(tmp_path):
    write(tmp_path, '[service]\ndatabse_url = "sqlite://"\n')

    with pytest.raises(ConfigError, match=r"service\.databse_url"):
        load_settings()


def test_a_provider_without_a_type_names_the_key(tmp_path):
    write(tmp_path, '[providers.shop]\nurl = "feed.csv"\n')

    with pytest.raises(ConfigError, match=r"providers\.shop\.type is missing"):
        load_settings()


def test_a_provider_setting_of_the_wrong_kind_names_the_key(tmp_path):
    write(tmp_path, '[providers.shop]\ntype = "feed"\nurl = "feed.csv"\ninterval_minutes = 0\n')

    with pytest.raises(ConfigError, match=r"providers\.shop\.interval_minutes"):
        load_settings()


def test_a_provider_of_a_type_not_installed_is_set_aside_and_named(tmp_path):
    """The service still starts, so the source's stored data stays shown (with its stored
    credits); nothing runs it, and start-up says why."""
    write(tmp_path, '[providers.x]\ntype = "ftp"\n[providers.shop]\ntype = "feed"\nurl = "builtin:demo"\n')

    settings = load_settings()

    known = "amazon, feed, itunes, streaming-availability, tmdb, watchmode"
    assert list(settings.providers) == ["shop"]
    assert settings.uninstalled_providers == {
        "x": f"config key providers.x.type: unknown provider type 'ftp'; known types: {known}"}


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_toml_syntax_errors_are_reported(tmp_path):
    write(tmp_path, '[service\n')

    with pytest.raises(ConfigError, match="config.toml"):
        load_settings()


def test_matching_rules_default_per_relation_and_a_table_may_set_one_key(tmp_path):
    write(tmp_path, '[matching.edition]\nauto_approve = 0.9\n')

    matching = load_settings().matching

    assert (matching.edition.auto_approve, matching.edition.reject) == (0.9, 0.35)
    assert matching.rule(Relation.SOURCE_NOVEL) is matching.book


def test_a_matching_rule_that_rejects_at_or_above_its_approval_names_the_key(tmp_path):
    write(tmp_path, '[matching.book]\nauto_approve = 0.6\nreject = 0.6\n')

    with pytest.raises(ConfigError, match=r"config key matching\.book .*reject \(0\.6\) must be lower than "
                                          r"auto_approve \(0\.6\)"):
        load_settings()


def test_a_matching_score_outside_0_to_1_names_the_key(monkeypatch):
    monkeypatch.setenv("AFFILIATE_MATCHING__SOUNDTRACK__AUTO_APPROVE", "1.5")

    with pytest.raises(ConfigError, match=r"matching\.soundtrack\.auto_approve .*less than or equal to 1"):
        load_settings()

