"""The `affiliate` command as an operator uses it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner

from affiliate.__main__ import main
from affiliate.command_index import SERVICE_COMMANDS


@pytest.fixture
def run(database_url):
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(main, list(args),
                             env={"AFFILIATE_SERVICE__DATABASE_URL": database_url, **(env or {})})

    return invoke


@pytest.mark.parametrize("command", ["refresh", "status", "scheduler"])
def test_commands_that_read_the_database_ask_for_a_migrated_one(run, command):
    result = run(command)

    assert result.exit_code == 1
    assert "run `affiliate db upgrade` first" in result.output


def test_refresh_twice_changes_nothing_the_second_time(run):
    assert run("db", "upgrade").exit_code == 0

    first = run("refresh")
    second = run("refresh")

    assert first.exit_code == 0, first.output
    assert "demo: complete." in first.output and " 0 added" not in first.output.split("Products")[0]
    assert second.exit_code == 0, second.output
    assert "0 added, 0 changed, 0 missing" in second.output
    assert second.output.count("0 added, 0 changed, 0 missing") == 2


def test_a_feed_that_fails_to_load_leaves_every_offer_in_place(run, tmp_path):
    (tmp_path / "config.toml").write_text('[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n')
    run("db", "upgrade")
    run("refresh")
    listed = run("films", "list").output

    failed = run("refresh", env={"AFFILIATE_PROVIDERS__DEMO__URL": str(tmp_path / "gone.json")})

    assert failed.exit_code == 1
    assert "demo: failed, stored data kept." in failed.output and "gone.json" in failed.output
    assert run("films", "list").output == listed


def test_films_list_shows_ids_and_visible_offers(run):
    run("db", "upgrade")
    run("refresh")

    output = run("films", "list").output

    line = next(line for line in output.splitlines() if "Leaving Las Vegas" in line)
    assert "(1995)" in line and "imdb:tt0113627" in line and "tmdb:451" in line
    assert not line.endswith(" 0 offers")


def test_providers_list_shows_the_last_run(run):
    run("db", "upgrade")
    assert "last success: never" in run("providers", "list").output

    run("refresh")
    output = run("providers", "list").output

    assert output.startswith("demo (feed, enabled, every 360 min)")
    assert "last success: never" not in output and "last error: never" in output


def test_a_malformed_film_reference_is_explained(run):
    run("db", "upgrade")

    result = run("refresh", "--film", "leaving-las-vegas")

    assert result.exit_code == 2
    assert "Invalid value for --film" in result.output and "imdb:tt0113627" in result.output


def test_an_unknown_provider_is_named(run):
    run("db", "upgrade")

    result = run("refresh", "--provider", "amazon")

    assert result.exit_code == 1 and "no provider named 'amazon'" in result.output


def test_a_bad_setting_stops_the_command_naming_the_key(run):
    result = run("films", "list", env={"AFFILIATE_SERVICE__DEFAULT_REGION": "XX"})

    assert result.exit_code == 1
    assert "service.default_region" in result.output and "AFFILIATE_SERVICE__DEFAULT_REGION" in result.output


def test_the_commands_are_flask_commands_too(app):
    group = app.cli.commands["affiliate"]
    runner = app.test_cli_runner()

    assert {"serve", "scheduler", "refresh", "db", "films", "providers"} <= set(group.list_commands(None))
    assert runner.invoke(args=["affiliate", "db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["affiliate", "status"])
    assert result.exit_code == 0, result.output
    assert "demo (feed): " in result.output


@pytest.mark.parametrize("name", sorted(SERVICE_COMMANDS))
def test_the_help_listed_without_importing_is_each_commands_own(name):
    command = main.get_command(click.Context(main), name)

    assert command.name == name
    for limit in (45, 300):
        listed = click.Command(name, help=SERVICE_COMMANDS[name][2])
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit)


def test_help_imports_no_command_flask_or_database_library():
    """`affiliate --help` starts fast because it imports none of what the commands need."""
    script = ("import sys\nfrom affiliate.__main__ import main\n"
              "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] in "
              "('flask', 'sqlalchemy', 'sqlmodel', 'pydantic', 'providers') or name in "
              "('affiliate.cli', 'affiliate.config', 'affiliate.app')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert "status  " in result.stdout and "webhooks  " in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_command_runs_with_the_collector_on_and_its_start_up_frozen_out_of_it():
    """Importing a command's module holds the cyclic collector off and freezes what it made
    (affiliate.long_lived.long_lived_objects): the command itself runs collected."""
    script = ("import gc\nfrom affiliate.__main__ import main\n"
              "before = gc.get_freeze_count()\nmain.get_command(None, 'status')\n"
              "print(gc.isenabled(), gc.get_freeze_count() - before)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})

    enabled, frozen = result.stdout.split()
    assert enabled == "True" and int(frozen) > 50_000


def test_a_partial_feed_loads_its_good_rows_and_names_the_bad_ones(run, tmp_path):
    feed = "\n".join([
        "id,title,link,price,format,film,region,merchant",
        "S1,Leaving Las Vegas [4K],https://shop.example.com/s1,24.99 USD,4k-uhd,imdb:tt0113627,US,Shop",
        "S2,Broken,https://shop.example.com/s2,lots,dvd,imdb:tt0113627,US,Shop",
    ])
    (tmp_path / "shop.csv").write_text(feed + "\n")
    (tmp_path / "config.toml").write_text(
        '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n'
        f'[providers.shop]\ntype = "feed"\nurl = "{tmp_path / "shop.csv"}"\n')
    run("db", "upgrade")

    result = run("refresh")

    assert result.exit_code == 0, result.output
    assert "shop: partial. Offers: 0 seen" in result.output
    assert "Products: 1 seen, 1 added" in result.output
    assert "  skipped line 3: " in result.output


def test_serve_migrates_loads_the_demo_and_stops_its_scheduler(run, monkeypatch):
    served = {}

    def fake_serve(app, host, port, threads):
        served.update(host=host, port=port)
        with app.test_client() as client:
            served["status"] = client.get("/widgets/how-to-watch/imdb:tt0113627").status_code
        started = app.extensions["affiliate"]
        served["films"] = not started.db.is_empty()

    monkeypatch.setattr("waitress.serve", fake_serve)
    stopped = []
    shutdown = BackgroundScheduler.shutdown

    def spy_shutdown(self, wait=True):
        stopped.append(self.running)
        shutdown(self, wait)

    monkeypatch.setattr(BackgroundScheduler, "shutdown", spy_shutdown)

    result = run("serve", "--port", "5050")

    assert result.exit_code == 0, result.output
    assert "Loaded the demo catalog into the empty database." in result.output
    assert served == {"host": "127.0.0.1", "port": 5050, "status": 200, "films": True}
    assert stopped == [True]


def test_candidates_are_listed_first_and_approved_or_rejected_by_id(run, db):
    from decimal import Decimal

    from affiliate.catalog import reconcile
    from providers.base import FilmKey, ProductFormat, ProductLink, ProductRecord, ProviderResult, Relation

    run("refresh")
    guess = ProductRecord("Amazon", "B00GUESS01", "Leaving Las Vegas [4K UHD]", ProductFormat.UHD_BLU_RAY,
                          "https://www.amazon.com/dp/B00GUESS01", "US",
                          films=(ProductLink(FilmKey(imdb_id="tt0113627"), Relation.EDITION, candidate=True),),
                          price=Decimal("29.99"), currency="USD")
    reconcile(db, "amazon", ProviderResult(products=[guess]), 3)

    listed = run("products", "list", "imdb:tt0113627").output.splitlines()
    assert len(listed) == 7
    assert "candidate" in listed[0] and "B00GUESS01" in listed[0] and "29.99 USD" in listed[0]
    link_id = listed[0].split()[0]

    assert run("products", "approve", link_id, "99999").exit_code == 1
    assert "candidate" in run("products", "list", "imdb:tt0113627", "--status", "candidate").output

    approved = run("products", "approve", link_id)
    assert approved.output == "Approved 1 product link.\n"
    assert run("products", "list", "tmdb:451", "--status", "candidate").output == "No product links.\n"


def test_a_database_at_the_first_schema_is_migrated_with_its_data(run, database_url):
    from affiliate.db import Database

    db = Database(database_url)
    db.upgrade("0001")
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO provider_state (name, type, consecutive_failures) VALUES ('demo', 'feed', 0)")
    db.dispose()

    assert run("db", "upgrade").exit_code == 0
    assert "last success: never" in run("providers", "list").output


def test_the_scheduler_freezes_its_loaded_engine_out_of_the_collector_before_it_starts(
        run, monkeypatch):
    """A full collection between the limiter letting a request go and its sending makes it
    reach the source late (affiliate.long_lived.settle): what loading made is frozen first."""
    import gc

    from apscheduler.schedulers.blocking import BlockingScheduler

    from affiliate import refresh

    engines, scanned = [], []
    built = refresh.RefreshEngine.__init__

    def keep(engine, *args, **kwargs):
        built(engine, *args, **kwargs)
        engines.append(engine)

    monkeypatch.setattr(refresh.RefreshEngine, "__init__", keep)
    monkeypatch.setattr(BlockingScheduler, "start", lambda self, *args, **kwargs: scanned.append(
        any(kept is engines[0] for kept in gc.get_objects())))
    assert run("db", "upgrade").exit_code == 0
    try:
        result = run("scheduler")
    finally:
        gc.unfreeze()

    assert result.exit_code == 0, result.output
    assert scanned == [False]


def test_platforms_sync_without_a_directory_names_the_types_that_keep_one(run):
    run("db", "upgrade")  # only the demo feed is configured: it keeps no directory

    synced = run("platforms", "sync")

    assert synced.exit_code == 0, synced.output
    assert synced.output == ("No enabled provider keeps a platform directory; "
                             "installed types that do: tmdb.\n")
