"""Two real scheduler processes share one provider's films on PostgreSQL: no film is run by
both, every film is run once, and the work of a process killed with SIGKILL is taken over
once its lease expires.

Each worker is this module run in a child Python (`serve`), driven over its stdin and
stdout with one JSON line per command and per answer, on a clock the test hands it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select as select_rows

from affiliate.db import Database
from affiliate.due import claim, ensure_rows, finish
from affiliate.models import Film, FilmProviderState

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
TTL = dt.timedelta(days=1)
ANSWER_TIMEOUT = 60  # seconds a worker may take for one command before the test fails
FILMS = 200

pytestmark = [
    pytest.mark.skipif(not os.environ.get("AFFILIATE_TEST_DATABASE_URL"),
                       reason="needs PostgreSQL: set AFFILIATE_TEST_DATABASE_URL "
                              "(e.g. postgresql://postgres@127.0.0.1:5432/test)"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def serve() -> None:
    """A worker: answer each command line on stdin for `sys.argv[1]` (URL) as owner argv[2]."""
    db = Database(sys.argv[1])
    owner = sys.argv[2]
    with db.engine.connect():
        pass
    _answer({"ready": owner})
    for line in sys.stdin:
        command = json.loads(line)
        now = dt.datetime.fromisoformat(command["now"])
        lease = dt.timedelta(seconds=command.get("lease", 60))
        if command["op"] == "claim":
            _answer({"claimed": claim(db, "p", owner, command["limit"], lease, now)})
        elif command["op"] == "finish":
            ids = command["ids"]
            _answer({"finished": sorted(finish(db, "p", owner, ids, set(ids), now, lambda _f: TTL))})
        elif command["op"] == "run":
            rounds = []
            while claimed := claim(db, "p", owner, command["limit"], lease, now):
                rounds.append(claimed)
                finish(db, "p", owner, claimed, set(claimed), now, lambda _f: TTL)
            _answer({"rounds": rounds})


def _answer(message: dict) -> None:
    print(json.dumps(message), flush=True)


class Worker:
    def __init__(self, url: str, owner: str, log: Path):
        self.owner = owner
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from tests.test_due_processes import serve; serve()", url, owner],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)})

    def send(self, op: str, now: dt.datetime, **fields) -> None:
        self.process.stdin.write(json.dumps({"op": op, "now": now.isoformat(), **fields}) + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], ANSWER_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        assert line, f"worker {self.owner} did not answer: {self.log.read_text()}"
        return json.loads(line)

    def ask(self, op: str, now: dt.datetime, **fields) -> dict:
        self.send(op, now, **fields)
        return self.answer()

    def stop(self) -> None:
        """End of input ends the worker's loop; one that hangs is killed."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=ANSWER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def films(db):
    with db.session() as session:
        films = [Film(title=f"Film {n}") for n in range(FILMS)]
        session.add_all(films)
    ensure_rows(db, "p", NOW)
    return [film.id for film in films]


@pytest.fixture
def workers(db, tmp_path):
    started = [Worker(db.url, owner, tmp_path / f"{owner}.log") for owner in ("one", "two")]
    for worker in started:
        assert worker.answer() == {"ready": worker.owner}
    yield started
    for worker in started:
        worker.stop()


def test_two_processes_looping_claim_and_finish_run_every_film_once(db, films, workers):
    for worker in workers:
        worker.send("run", NOW, limit=3)
    rounds = {worker.owner: worker.answer()["rounds"] for worker in workers}
    runs = Counter(film for owner_rounds in rounds.values() for claimed in owner_rounds for film in claimed)
    assert [film for film, count in runs.items() if count > 1] == []
    assert sorted(runs) == films
    with db.session() as session:
        states = session.exec(select_rows(FilmProviderState)).all()
    assert {(s.due_at, s.last_success_at, s.lease_owner) for s in states} == {(NOW + TTL, NOW, None)}


def test_claims_racing_in_the_same_round_never_overlap(db, films, workers):
    one, two = workers
    seen = []
    while True:
        for worker in workers:
            worker.send("claim", NOW, limit=7)
        claimed_one, claimed_two = (worker.answer()["claimed"] for worker in workers)
        assert set(claimed_one).isdisjoint(claimed_two)
        if not claimed_one and not claimed_two:
            break
        for worker, claimed in ((one, claimed_one), (two, claimed_two)):
            worker.send("finish", NOW, ids=claimed)
        assert [one.answer()["finished"], two.answer()["finished"]] == [claimed_one, claimed_two]
        seen += claimed_one + claimed_two
    assert sorted(seen) == films


def test_a_killed_process_loses_its_films_to_the_other_once_its_lease_expires(db, films, workers):
    dying, heir = workers
    lease = 60
    held = dying.ask("claim", NOW, limit=5, lease=lease)["claimed"]
    assert held == films[:5]
    os.kill(dying.process.pid, signal.SIGKILL)
    assert dying.process.wait(timeout=ANSWER_TIMEOUT) == -signal.SIGKILL

    before_expiry = NOW + dt.timedelta(seconds=lease - 1)
    others = heir.ask("claim", before_expiry, limit=5, lease=lease)["claimed"]
    assert others == films[5:10]
    assert heir.ask("finish", before_expiry, ids=others)["finished"] == others

    expired = NOW + dt.timedelta(seconds=lease)
    assert heir.ask("claim", expired, limit=5, lease=lease)["claimed"] == held
    assert heir.ask("finish", expired, ids=held)["finished"] == held
    # The dead owner's id can no longer finish what it held.
    assert finish(db, "p", "one", held, set(held), expired, lambda _f: TTL) == set()
    assert claim(db, "p", "late", FILMS, dt.timedelta(seconds=lease), expired) == films[10:]
