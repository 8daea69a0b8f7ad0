"""`affiliate db backup`: a copy that opens and holds the rows, taken while others write."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess

import pytest
from click.testing import CliRunner

from affiliate.__main__ import main
from affiliate.models import Film
from tests.conftest import POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'live.db'}"


@pytest.fixture
def run():
    def invoke(url, *args, env=None):
        return CliRunner().invoke(main, ["db", "backup", *args],
                                  env={"AFFILIATE_SERVICE__DATABASE_URL": url, **(env or {})})

    return invoke


@pytest.fixture
def live(sqlite_url):
    """An SQLite database holding the demo catalog, as `affiliate serve` leaves it."""
    runner = CliRunner()
    env = {"AFFILIATE_SERVICE__DATABASE_URL": sqlite_url}
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(main, ["refresh"], env=env).exit_code == 0
    return sqlite_url.removeprefix("sqlite:///")


def titles(path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return {title for (title,) in connection.execute(f"SELECT title FROM {Film.__tablename__}")}


def test_the_copy_opens_alone_and_holds_every_film(run, live, sqlite_url, tmp_path):
    target = tmp_path / "copies" / "nightly.db"
    target.parent.mkdir()

    result = run(sqlite_url, str(target))

    assert result.exit_code == 0, result.output
    assert f"Backed up the database to {target}" in result.output
    assert "Leaving Las Vegas" in titles(target) and titles(target) == titles(live)
    assert sorted(p.name for p in target.parent.iterdir()) == ["nightly.db"]  # no -wal needed


def test_a_directory_gets_a_timestamped_copy_and_no_path_one_beside_the_database(
        run, live, sqlite_url, tmp_path):
    (tmp_path / "backups").mkdir()

    into_directory = run(sqlite_url, str(tmp_path / "backups"))
    beside = run(sqlite_url)

    assert into_directory.exit_code == 0 and beside.exit_code == 0, (into_directory.output, beside.output)
    [copy] = (tmp_path / "backups").glob("live-*Z.db")
    [copy_beside] = tmp_path.glob("live-*Z.db")
    assert str(copy) in into_directory.output and str(copy_beside) in beside.output
    assert titles(copy) == titles(copy_beside) == titles(live)


def test_a_write_in_progress_neither_blocks_the_copy_nor_shows_in_it(run, live, sqlite_url, tmp_path):
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(f"UPDATE {Film.__tablename__} SET title = 'Half written'")
    try:
        result = run(sqlite_url, str(tmp_path / "during.db"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert result.exit_code == 0, result.output
    assert "Half written" not in titles(tmp_path / "during.db")
    assert titles(tmp_path / "during.db") == titles(live)


@pytest.mark.parametrize("target, message", [
    ("missing/dir/copy.db", "does not exist; create it or name another"),
    ("live.db", "live.db already exists; name a new file, or a directory"),
])
def test_a_bad_target_is_refused_naming_the_fix(run, live, sqlite_url, tmp_path, target, message):
    before = sorted(tmp_path.rglob("*"))

    result = run(sqlite_url, str(tmp_path / target))

    assert result.exit_code == 1
    assert message in result.output
    assert sorted(tmp_path.rglob("*")) == before
    assert "Leaving Las Vegas" in titles(live)


def test_a_missing_database_is_named_and_never_created(run, tmp_path):
    result = run(f"sqlite:///{tmp_path / 'typo.db'}", str(tmp_path / "copy.db"))

    assert result.exit_code == 1
    assert f"no database at {tmp_path / 'typo.db'} (service.database_url)" in result.output
    assert not (tmp_path / "typo.db").exists() and not (tmp_path / "copy.db").exists()


def test_postgresql_without_pg_dump_names_the_tool_and_the_package(run, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    result = run("postgresql://affiliate:pw@db.invalid/affiliate", str(tmp_path / "x.dump"))

    assert result.exit_code == 1
    assert "backed up with pg_dump, which is not on PATH" in result.output
    assert "postgresql-client" in result.output


@pytest.mark.skipif(not POSTGRES_URL or not shutil.which("pg_restore"),
                    reason="needs AFFILIATE_TEST_DATABASE_URL and PostgreSQL's client tools")
def test_postgresql_is_dumped_for_pg_restore(run, demo, database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("the SQLite case is covered above")
    target = tmp_path / "affiliate.dump"

    result = run(database_url, str(target))

    assert result.exit_code == 0, result.output
    listing = subprocess.run(["pg_restore", "--list", str(target)], capture_output=True, text=True,
                             check=True).stdout
    assert f"TABLE DATA public {Film.__tablename__} " in listing
