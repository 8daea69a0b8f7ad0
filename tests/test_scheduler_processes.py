"""Two real processes run the scheduler's refresh job for one provider at the same time, on
PostgreSQL, against the stand-in source over a socket: every film is fetched exactly once,
by one of them, and every film ends refreshed and released.

Each worker is this module run in a child Python (`work`): it builds the app and a
RefreshEngine as `affiliate scheduler` does, waits for "go" on stdin, then runs
`scheduler.refresh_job` until no film is left due, and prints what it did.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from affiliate.models import Film, FilmProviderState, Offer
from affiliate.types import utcnow
from tests.standin import Answer

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests/recordings/tmdb/details_451.json"
FILMS = 120
TIMEOUT = 120

pytestmark = [
    pytest.mark.skipif(not os.environ.get("AFFILIATE_TEST_DATABASE_URL"),
                       reason="needs PostgreSQL: set AFFILIATE_TEST_DATABASE_URL "
                              "(e.g. postgresql://postgres@127.0.0.1:5432/test)"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def settings_for(database_url: str, source_url: str):
    from affiliate.config import load_settings

    # Ten films a run, so the two processes' claims interleave; the stand-in sets no limit.
    return load_settings(
        service={"database_url": database_url, "demo_catalog": False},
        refresh={"max_films_per_run": 10},
        providers={"tmdb": {"type": "tmdb", "read_access_token": "test-token", "base_url": source_url,
                            "regions": ["US"], "requests_per_second": 1000}})


def work() -> None:
    """A worker process: argv[1] the database URL, argv[2] the stand-in's."""
    from affiliate.app import create_app
    from affiliate.due import due_summary
    from affiliate.refresh import RefreshEngine
    from affiliate.scheduler import refresh_job

    settings = settings_for(sys.argv[1], sys.argv[2])
    app = create_app(settings)
    db = app.extensions["affiliate"].db
    engine = RefreshEngine(db, settings)
    print(json.dumps({"ready": engine.owner}), flush=True)
    sys.stdin.readline()  # "go"
    jobs = 0
    try:
        while due_summary(db, "tmdb", utcnow())[0]:  # films another process holds count as due
            refresh_job(app, engine, "tmdb")
            jobs += 1
            time.sleep(0.01)
    finally:
        engine.close()
        db.dispose()
    print(json.dumps({"owner": engine.owner, "jobs": jobs, "requests": engine.requests}), flush=True)


@pytest.fixture
def source(standin):
    body = json.loads(RECORDING.read_text())
    for tmdb_id in range(1, FILMS + 1):
        # Films without known people are read with their credits in one details request.
        standin.route("GET", f"/3/movie/{tmdb_id}", Answer(200, json.dumps({**body, "id": tmdb_id, "imdb_id": f"tt{tmdb_id:07d}"})))
    return standin


def test_two_scheduler_processes_refresh_every_film_exactly_once(db, database_url, source, tmp_path):
    with db.session() as session:
        session.add_all(Film(title=f"Film {n}", tmdb_id=n) for n in range(1, FILMS + 1))
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
    workers = [subprocess.Popen(
        [sys.executable, "-c", "from tests.test_scheduler_processes import work; work()",
         database_url, source.url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}) for log in logs]
    try:
        for worker, log in zip(workers, logs, strict=True):
            assert "ready" in worker.stdout.readline(), log.read_text()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [json.loads(worker.communicate(timeout=TIMEOUT)[0].splitlines()[-1]) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    fetched = Counter(request.path for request in source.requests)
    assert [path for path, count in fetched.items() if count > 1] == []
    assert len(fetched) == FILMS
    assert sum(output["requests"] for output in outputs) == FILMS
    assert all(output["requests"] > 0 for output in outputs), outputs  # both took part
    with db.session() as session:
        states = session.exec(select(FilmProviderState).where(FilmProviderState.provider == "tmdb")).all()
        offers = session.exec(select(Offer)).all()
    assert len(states) == FILMS
    assert all(s.last_success_at is not None and s.lease_owner is None for s in states)
    assert len({(o.film_id, o.platform_id, o.kind, o.quality) for o in offers}) == len(offers) > 0
