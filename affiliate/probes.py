"""Health endpoints for load balancers and Kubernetes probes: `/healthz` says the process
answers (liveness: no database, so a database outage never gets every worker restarted),
`/readyz` says it can serve (readiness: database reachable, schema migrated to this code's
head, the limiter's store reachable) or answers 503 naming what is not.

Both answer `no-store` and never carry a cookie; they render no widget, so they count no
view. A failing check is logged when readiness is lost and when it returns, not on every
probe.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text
from sqlalchemy.engine import make_url

from affiliate.config import Settings
from affiliate.db import Database
from affiliate.delivery import keep_sessions_cookieless
from affiliate.limits import limits_file
from affiliate.state import state

log = logging.getLogger(__name__)

probes_bp = Blueprint("affiliate_probes", __name__)
PROBE_ENDPOINTS = frozenset(f"{probes_bp.name}.{name}" for name in ("healthz", "readyz"))
# Seconds a readiness check may wait for Redis.
REDIS_TIMEOUT = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    problem: str | None  # None: ready

    @property
    def text(self) -> str:
        return "ok" if self.problem is None else self.problem


def init_probes(app: Flask) -> None:
    """Add /healthz and /readyz to an app that uses the extension (the standalone service
    does; a host app may too, if the paths are free)."""
    app.register_blueprint(probes_bp)
    keep_sessions_cookieless(app, PROBE_ENDPOINTS)


@probes_bp.get("/healthz")
def healthz() -> Response:
    return _no_store(Response("ok\n", mimetype="text/plain"))


@probes_bp.get("/readyz")
def readyz() -> Response:
    affiliate = state()
    checks = readiness(affiliate.db, affiliate.settings)
    failing = [check for check in checks if check.problem is not None]
    _log_change(affiliate, failing)
    body = {"status": "not ready" if failing else "ready",
            "checks": {check.name: check.text for check in checks}}
    if failing:
        body["not_ready"] = [f"{check.name}: {check.problem}" for check in failing]
    response = jsonify(body)
    response.status_code = 503 if failing else 200
    return _no_store(response)


def readiness(db: Database, settings: Settings) -> list[Check]:
    """Every check, in order; the schema is only asked about once the database answers."""
    database = _database(db)
    migrations = (Check("migrations", "not checked: the database is unreachable")
                  if database.problem else _migrations(db))
    return [database, migrations, _limiter_store(db, settings)]


def _database(db: Database) -> Check:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # the error's text may name hosts and users: logged, not served
        log.debug("readiness: the database did not answer", exc_info=True)
        return Check("database", f"unreachable ({type(exc).__name__})")
    return Check("database", None)


def _migrations(db: Database) -> Check:
    try:
        current, heads = db.schema_revisions()
    except Exception as exc:
        log.debug("readiness: could not read the schema revision", exc_info=True)
        return Check("migrations", f"could not read the schema revision ({type(exc).__name__})")
    if current == heads:
        return Check("migrations", None)
    at, wanted = ", ".join(sorted(current)), ", ".join(sorted(heads))
    missing = ", ".join(sorted(heads - current))
    if not current:
        return Check("migrations", f"the database has no schema (migration {missing} is missing): "
                                   "run `affiliate db upgrade`")
    if not missing:
        return Check("migrations", f"the database is at {at}, which this code does not know "
                                   f"(its head is {wanted}): run the release that migrated it")
    return Check("migrations", f"the database is at {at}; migration {missing} is missing: "
                               "run `affiliate db upgrade`")


def _limiter_store(db: Database, settings: Settings) -> Check:
    """Where providers' request counts live (affiliate.limits.shared_buckets)."""
    redis_url = settings.service.redis_url
    try:
        if redis_url:
            _redis(redis_url).ping()
        else:
            url = make_url(db.url)
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
                path = limits_file(Path(url.database))
                with sqlite3.connect(path, timeout=REDIS_TIMEOUT) as connection:
                    connection.execute("PRAGMA schema_version")
            # PostgreSQL: the limiter's tables are in the database checked above.
    except Exception as exc:
        log.debug("readiness: the limiter's store did not answer", exc_info=True)
        where = "Redis" if redis_url else "the limits file"
        return Check("limiter_store", f"{where} unreachable ({type(exc).__name__})")
    return Check("limiter_store", None)


_REDIS_CLIENTS: dict[str, object] = {}


def _redis(url: str):
    client = _REDIS_CLIENTS.get(url)
    if client is None:
        from redis import Redis  # installed where a Redis is used (the redis extra)

        client = _REDIS_CLIENTS[url] = Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)
    return client


def _log_change(affiliate, failing: list[Check]) -> None:
    """One line when readiness is lost (naming why) and one when it returns."""
    now_failing = tuple(check.name for check in failing)
    before = getattr(affiliate, "_not_ready", ())
    if now_failing == before:
        return
    affiliate._not_ready = now_failing
    if failing:
        log.warning("not ready: %s", "; ".join(f"{c.name}: {c.problem}" for c in failing))
    else:
        log.info("ready again")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
