"""[logging]: JSON lines with request id, provider and film; one line when a provider starts
failing and one when it recovers; a CLI without library INFO lines unless --verbose."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from affiliate.__main__ import main
from affiliate.config import LoggingSettings
from affiliate.logs import configure_logging, log_context
from affiliate.refresh import RefreshEngine

DEMO_FEED = Path(__file__).parent.parent / "affiliate" / "demo"


def _lines(captured: str) -> list[dict]:
    """Every line must be one JSON object."""
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_json_lines_parse_and_carry_the_context(capsys):
    configure_logging(LoggingSettings(format="json"))
    log = logging.getLogger("affiliate.test")
    with log_context(provider="tmdb", film="imdb:tt0113627"):
        log.warning('a "quoted"\nmessage over two lines')
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    first, second = _lines(capsys.readouterr().err)
    assert first["level"] == "WARNING" and first["logger"] == "affiliate.test"
    assert first["message"] == 'a "quoted"\nmessage over two lines'
    assert first["provider"] == "tmdb" and first["film"] == "imdb:tt0113627"
    assert first["time"].endswith("+00:00")
    assert "provider" not in second and "ValueError: boom" in second["exception"]


def test_text_lines_name_the_context(capsys):
    configure_logging(LoggingSettings(format="text"))
    with log_context(provider="tmdb"):
        logging.getLogger("affiliate.test").warning("slow")
    assert capsys.readouterr().err.rstrip().endswith("WARNING affiliate.test: slow [provider=tmdb]")


def test_libraries_say_warnings_only_unless_verbose(capsys):
    configure_logging(LoggingSettings())
    logging.getLogger("alembic.runtime.migration").info("Running upgrade")
    logging.getLogger("affiliate.test").info("ours")
    assert capsys.readouterr().err.count("\n") == 1
    configure_logging(LoggingSettings(), verbose=True)
    logging.getLogger("alembic.runtime.migration").info("Running upgrade")
    assert "Running upgrade" in capsys.readouterr().err


def test_a_request_logs_with_its_id_and_film(app, capsys):
    configure_logging(LoggingSettings(format="json"))

    @app.get("/test-log/<film>")
    def _logs(film):
        logging.getLogger("affiliate.test").warning("asked")
        return "ok"

    client = app.test_client()
    given = client.get("/test-log/imdb:tt0113627", headers={"X-Request-ID": "abc-123"})
    made = client.get("/test-log/tmdb:451", headers={"X-Request-ID": "evil\tid with spaces"})
    first, second = _lines(capsys.readouterr().err)
    assert given.status_code == made.status_code == 200
    assert first["request_id"] == "abc-123" and first["film"] == "imdb:tt0113627"
    assert len(second["request_id"]) == 16 and "X-Request-ID" not in made.headers
    assert second["film"] == "tmdb:451"


def test_one_line_when_a_provider_starts_failing_and_one_when_it_recovers(
        db, make_settings, tmp_path, capsys):
    feed = tmp_path / "feed.json"
    settings = make_settings(providers={"shop": {"type": "feed", "url": str(feed)}},
                             refresh={"retry": {"attempts": 1}})
    configure_logging(LoggingSettings(format="json"))
    engine = RefreshEngine(db, settings)
    try:
        for _ in range(3):
            assert engine.run("shop")[0].status == "failed"
        shutil.copy(DEMO_FEED / "catalog.json", feed)
        assert engine.run("shop")[0].status == "complete"
    finally:
        engine.close()
    lines = [line for line in _lines(capsys.readouterr().err) if line["logger"] == "affiliate.refresh"]
    assert [line["level"] for line in lines] == ["WARNING", "INFO"], lines
    assert lines[0]["message"].startswith("provider shop failed")
    assert lines[1]["message"] == "provider shop recovered after 3 failed runs"
    assert all(line["provider"] == "shop" for line in lines)


@pytest.fixture
def cli(database_url):
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args),
                                       env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})


def test_cli_prints_no_library_info_lines_unless_verbose(cli):
    quiet = cli("db", "upgrade")
    assert quiet.exit_code == 0, quiet.output
    assert "INFO" not in quiet.output and "Running upgrade" not in quiet.output
    assert quiet.output.startswith("Migrated the database from empty to ")
    assert quiet.output.endswith("Database is up to date.\n")
    status = cli("status")
    assert "INFO" not in status.output

    again = cli("--verbose", "db", "upgrade")
    assert again.exit_code == 0
    assert "INFO alembic.runtime.migration" in again.output
    assert "Migrated" not in again.output  # nothing left to apply
