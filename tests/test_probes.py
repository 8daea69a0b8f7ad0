"""/healthz and /readyz: what load balancers and Kubernetes probes ask (affiliate.probes)."""
from __future__ import annotations

import logging

import pytest

from affiliate import create_app
from affiliate.db import migration_heads


def test_healthz_answers_without_the_database(make_settings, tmp_path):
    """Liveness needs no database: a process whose database is gone stays alive."""
    app = create_app(make_settings(service={"database_url": "postgresql://nobody@127.0.0.1:1/none"}))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_ready_when_migrated_database_and_limiter_store_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json == {"status": "ready", "checks": {
        "database": "ok", "migrations": "ok", "limiter_store": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_not_ready_names_the_missing_migration(make_settings, caplog):
    app = create_app(make_settings())
    db = app.extensions["affiliate"].db
    head = max(migration_heads())
    revisions = _revisions()
    db.upgrade(revisions[-2])  # one migration short of the head
    with caplog.at_level(logging.INFO, "affiliate.probes"):
        response = app.test_client().get("/readyz")
        again = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert f"migration {head} is missing" in body["checks"]["migrations"]
    assert "affiliate db upgrade" in body["checks"]["migrations"]
    assert body["not_ready"] == [f"migrations: {body['checks']['migrations']}"]
    assert again.status_code == 503
    # Logged when readiness is lost, not on every probe.
    assert [r.getMessage() for r in caplog.records].count(
        f"not ready: migrations: {body['checks']['migrations']}") == 1
    db.upgrade()
    with caplog.at_level(logging.INFO, "affiliate.probes"):
        assert app.test_client().get("/readyz").status_code == 200
    assert "ready again" in caplog.messages
    db.dispose()


def test_not_ready_on_an_empty_database(make_settings):
    app = create_app(make_settings())
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "has no schema" in response.json["checks"]["migrations"]
    app.extensions["affiliate"].db.dispose()


def test_not_ready_names_an_unreachable_database_without_its_url(make_settings):
    url = "postgresql://affiliate:pg-secret-password@127.0.0.1:1/affiliate"
    app = create_app(make_settings(service={"database_url": url}))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = response.json["checks"]
    assert checks["database"].startswith("unreachable (")
    assert checks["migrations"] == "not checked: the database is unreachable"
    assert "pg-secret-password" not in response.text and "127.0.0.1" not in response.text


def test_not_ready_names_an_unreachable_redis(make_settings):
    app = create_app(make_settings(service={"redis_url": "redis://127.0.0.1:1/0"}))
    app.extensions["affiliate"].db.upgrade()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["not_ready"] == ["limiter_store: Redis unreachable (ConnectionError)"]
    app.extensions["affiliate"].db.dispose()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_carry_no_cookie_and_count_no_view(app, demo, path):
    """Even a visitor holding a console session gets no cookie back from a probe."""
    app.config["SECRET_KEY"] = "x" * 40
    app.config["SESSION_COOKIE_PATH"] = "/"
    client = app.test_client()
    with client.session_transaction() as session:
        session["user"] = "alice"
        session.permanent = True
    views = app.extensions["affiliate"].views
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert views.flush() == 0


def _revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from affiliate.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_the_migration_heads_read_from_the_scripts_are_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from affiliate.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert migration_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())
