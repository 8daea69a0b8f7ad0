"""Fixtures: a migrated database per test. Every database test runs on SQLite, and again on
PostgreSQL when AFFILIATE_TEST_DATABASE_URL names one (each test starts from an empty schema)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading

import pytest
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine

from affiliate import create_app
from affiliate.catalog import prepare
from affiliate.config import load_settings
from affiliate.film_memo import FilmMemo
from affiliate.refresh import run_refresh
from affiliate.revision_watch import RevisionWatch
from affiliate.view_counts import ViewCounter
from tests.secret_leaks import LeakWatch, register_secret_strings
from tests.secret_leaks import secrets_registry as _secrets_registry

POSTGRES_URL = os.environ.get("AFFILIATE_TEST_DATABASE_URL")

register_secret_strings()


@pytest.fixture(autouse=True)
def leak_watch(monkeypatch):
    """Fails the test if any secret configured in the suite shows in its logs (DEBUG and
    up, any logger), its Flask test-client responses or its CliRunner output; see
    tests/secret_leaks.py."""
    watch = LeakWatch(_secrets_registry)
    with watch.watching(monkeypatch):
        yield watch
    leaks = watch.leaks()
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


@pytest.fixture
def secrets_registry():
    """Add a secret the watch cannot see being configured (an admin password, an API
    token): `secrets_registry.add(value)`."""
    return _secrets_registry


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No developer's config.toml or AFFILIATE_* variables leak into a test."""
    for name in list(os.environ):
        if name.startswith("AFFILIATE_") and name != "AFFILIATE_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _logging_restored():
    """A CLI run configures logging (affiliate.logs) for the process; the next test gets
    the root logger's handlers and the levels back as they were."""
    loggers = [logging.getLogger(name) for name in ("", "affiliate", "providers")]
    levels = [logger.level for logger in loggers]
    yield
    for handler in list(loggers[0].handlers):
        if getattr(handler, "_affiliate", False):
            loggers[0].removeHandler(handler)
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


def _instances(monkeypatch, cls) -> list:
    """Every instance of `cls` made from now on, for the test's teardown."""
    made: list = []
    opened = cls.__init__

    def track(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(cls, "__init__", track)
    return made


@pytest.fixture(autouse=True)
def _background_threads_stopped(monkeypatch):
    """Every app's view counter (affiliate.view_counts) is closed and every film memo's
    listening thread (affiliate.revision_watch) stopped with its test, so none writes a
    test's views into a later test's database or keeps a PostgreSQL connection open."""
    counters: list[ViewCounter] = _instances(monkeypatch, ViewCounter)
    watches: list[RevisionWatch] = _instances(monkeypatch, RevisionWatch)
    yield
    for counter in counters:
        counter.close()
    for watch in watches:
        watch.stop()


@pytest.fixture(scope="session")
def postgres_url():
    """The PostgreSQL database of this test process: under pytest-xdist each worker has its
    own (`<database>_gw0`, ...), made on first use, so workers never drop each other's schema."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return POSTGRES_URL
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_{worker}"
    engine = create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": name}).first():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def make_settings(database_url):
    """Settings as config.toml would give them, with the test database and any overrides."""

    def make(**sections):
        service = {"database_url": database_url, **sections.pop("service", {})}
        return load_settings(service=service, **sections)

    return make


def pytest_configure(config):
    config.addinivalue_line("markers", "settings(**sections): the `settings` fixture's overrides, "
                                       "as make_settings takes them (and so app, client, demo's)")


@pytest.fixture
def settings(make_settings, request):
    """The test's settings: `@pytest.mark.settings(link_tags=[...])` overrides sections."""
    marker = request.node.get_closest_marker("settings")
    return make_settings(**(marker.kwargs if marker else {}))


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    state = app.extensions["affiliate"]
    prepare(state.db)
    yield app
    state.db.dispose()


@pytest.fixture
def db(app):
    return app.extensions["affiliate"].db


@pytest.fixture
def demo(app, db):
    """The database with the bundled demo catalog loaded, as `affiliate serve` does (with
    the settings of whichever `app` the test module has)."""
    reports = run_refresh(db, app.extensions["affiliate"].settings, "demo")
    assert [r.status for r in reports] == ["complete"], reports
    return db


@pytest.fixture
def memo_clock(app) -> list[float]:
    """The seconds the app's film memo (affiliate.film_memo) reads, moved by the test."""
    clock = [0.0]
    affiliate = app.extensions["affiliate"]
    affiliate.films = FilmMemo(affiliate.settings.http.revision_check_seconds,
                               clock=lambda: clock[0])
    affiliate.answers.films = affiliate.films
    return clock


@pytest.fixture
def expiring(monkeypatch) -> dt.datetime:
    """How to Watch views turn wrong by the clock 90 s after the moment returned (a price
    reaching its age limit)."""
    from affiliate import blueprint

    now = dt.datetime.now(dt.timezone.utc)
    widget = blueprint._WIDGETS["how-to-watch"]

    def build(*args, **kwargs):
        return dataclasses.replace(widget.build(*args, **kwargs),
                                   fresh_until=now + dt.timedelta(seconds=90))

    monkeypatch.setitem(blueprint._WIDGETS, "how-to-watch", widget._replace(build=build))
    return now


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def standin():
    """A local HTTP server answering recorded bodies; see tests/standin.py."""
    from tests.standin import StandIn

    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def statements():
    """Every SQL statement any engine runs from now on in the test's own thread (where the
    test client serves requests): the pool's and the connections the widget routes keep
    (affiliate.film_rows) alike; not a background thread's (affiliate.revision_watch)."""
    seen: list[str] = []
    thread = threading.get_ident()

    def record(*args) -> None:
        if threading.get_ident() == thread:
            seen.append(args[2])

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)
