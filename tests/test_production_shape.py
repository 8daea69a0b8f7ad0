"""The production shape, run for real: gunicorn with two workers and two `affiliate scheduler`
processes on PostgreSQL (provider limits in Redis when AFFILIATE_TEST_REDIS_URL names one,
else in PostgreSQL), refreshing films from a stand-in TMDB that refuses any request beyond
its rate, while visitors load widgets and click their links, and one scheduler is killed
with SIGKILL in the middle of its run.

What must hold: every due film is fetched and stored, and none twice except those whose
answers died with the killed process (they were leased to it; the survivor takes them over
when the leases expire); the stand-in never answers 429; every click is counted once; a
widget requested `http.revision_check_seconds` after its film was stored shows the new
offers, in both workers; no answer is a 5xx.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from http.client import HTTPConnection
from pathlib import Path

import pytest
from sqlmodel import func, select

from affiliate.models import Click, Film, FilmProviderState
from tests.standin import Answer, StandIn

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests/recordings/tmdb/details_451.json"
REDIS_URL = os.environ.get("AFFILIATE_TEST_REDIS_URL")
FILMS = 80
RATE = 20  # the stand-in's limit, requests in any second; configured as the provider's rate
REVISION_CHECK = 1.0  # http.revision_check_seconds
LEASE_MINUTES = 0.2  # a killed scheduler's films are taken over after 12 s
PER_RUN = 10  # films per scheduler run, so the two processes' claims interleave
KILL_AFTER = 25  # films fetched before one scheduler is killed
TIMEOUT = 75
# The provider's name keys its shared limits: a name of its own keeps other runs sharing the
# Redis server out of this test's quota.
PROVIDER = f"tmdb_{os.getpid()}"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GO_LINK = re.compile(r'href="https?://[^/"]+(/go/o\d+[^"]*)"')

pytestmark = [
    pytest.mark.skipif(not os.environ.get("AFFILIATE_TEST_DATABASE_URL"),
                       reason="needs PostgreSQL: set AFFILIATE_TEST_DATABASE_URL "
                              "(e.g. postgresql://postgres@127.0.0.1:5432/test); Redis is used "
                              "too when AFFILIATE_TEST_REDIS_URL is set"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


class RateLimitedTmdb(StandIn):
    """The stand-in TMDB, refusing with 429 any request beyond `rate` in the last second
    (counted as its threads read them, as a real server would)."""

    def __init__(self, rate: int):
        super().__init__()
        self.rate = rate
        self.refused = 0
        self.fetched: Counter[str] = Counter()  # paths answered 200
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def answer_for(self, request):
        with self._lock:
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate:
                self.refused += 1
                return Answer(429, b'{"status_code":25,"status_message":"over the limit"}',
                              {"Content-Type": "application/json", "Retry-After": "1"})
            self._recent.append(now)
            answer = super().answer_for(request)
            if answer.status == 200:
                self.fetched[request.path] += 1
            return answer


@pytest.fixture
def tmdb():
    server = RateLimitedTmdb(RATE)
    body = json.loads(RECORDING.read_text())
    for tmdb_id in range(1, FILMS + 1):
        server.route("GET", f"/3/movie/{tmdb_id}",
                     Answer(200, json.dumps({**body, "id": tmdb_id, "imdb_id": f"tt{tmdb_id:07d}"})))
    server.start()
    yield server
    server.stop()


def write_config(path: Path, database_url: str, source_url: str) -> Path:
    redis = f'redis_url = "{REDIS_URL}"\n' if REDIS_URL else ""
    path.write_text(f"""\
[service]
database_url = "{database_url}"
demo_catalog = false
{redis}
[http]
revision_check_seconds = {REVISION_CHECK}

[admin]
# Each click comes from a visitor of its own (X-Forwarded-For, as behind one proxy), so the
# per-visitor click limit (affiliate.click_limit) holds back none of them.
proxy_hops = 1

[refresh]
max_films_per_run = {PER_RUN}
lease_minutes = {LEASE_MINUTES}
due_check_minutes = 0.02
# Requests stamped late by a busy test machine must still fit the stand-in's second.
rate_margin = 0.25

[providers.{PROVIDER}]
type = "tmdb"
read_access_token = "test-token"
base_url = "{source_url}"
regions = ["US"]
requests_per_second = {RATE}
""")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def widget(film: int) -> str:
    return f"/widgets/how-to-watch/tmdb:{film}?region=US&locale=en_US"


def get(port: int, path: str, timeout: float = 30, visitor: str | None = None) -> tuple[int, str]:
    connection = HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"User-Agent": BROWSER, "Accept": "text/html"}
    if visitor:
        headers["X-Forwarded-For"] = visitor
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


class Visitors:
    """Threads loading random films' widgets and clicking a link of every third widget that
    shows offers, until stopped. Each widget load is kept as (when sent, film, status, links)."""

    def __init__(self, port: int, threads: int = 3):
        self.port = port
        self.loads: list[tuple[float, int, int, list[str]]] = []
        self.click_statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self._visitor_numbers = itertools.count()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._visit, args=(seed,), daemon=True)
                         for seed in range(threads)]

    def start(self) -> "Visitors":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _visit(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self._stop.is_set():
            film = rng.randint(1, FILMS)
            sent = time.time()
            try:
                status, html = get(self.port, widget(film))
                links = GO_LINK.findall(html)
                self.loads.append((sent, film, status, links))
                if links and rng.random() < 1 / 3:
                    n = next(self._visitor_numbers)
                    visitor = f"10.{seed}.{n // 250}.{n % 250 + 1}"
                    self.click_statuses[get(self.port, links[0].replace("&amp;", "&"),
                                            visitor=visitor)[0]] += 1
            except OSError as exc:
                self.errors.append(f"{film}: {exc!r}")
            time.sleep(0.02)


def start_processes(config: Path, port: int, logs: Path) -> tuple[subprocess.Popen, list[subprocess.Popen]]:
    env = {**os.environ, "AFFILIATE_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    env.pop("AFFILIATE_TEST_DATABASE_URL", None)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "affiliate.app:create_app()"],
        env=env, cwd=config.parent, stdout=subprocess.DEVNULL, stderr=(logs / "web.log").open("w"))
    schedulers = [subprocess.Popen(
        [sys.executable, "-m", "affiliate", "scheduler"], env=env, cwd=config.parent,
        stdout=subprocess.DEVNULL, stderr=(logs / f"scheduler{n}.log").open("w")) for n in (1, 2)]
    return web, schedulers


def wait_for(condition, what: str, logs: Path, db=None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            found = "".join(f"\n--- {log.name}\n{log.read_text()[-3000:]}"
                            for log in sorted(logs.glob("*.log")))
            raise AssertionError(f"timed out waiting for {what}{unrefreshed(db) if db else ''}{found}")
        time.sleep(0.1)


def unrefreshed(db) -> str:
    with db.session() as session:
        states = session.exec(select(FilmProviderState)
                              .where(FilmProviderState.provider == PROVIDER,
                                     FilmProviderState.last_success_at.is_(None))).all()
    return "\nnot refreshed:\n" + "\n".join(
        f"film {s.film_id}: due {s.due_at}, lease {s.lease_owner} until {s.lease_expires_at}, "
        f"attempt {s.last_attempt_at}" for s in states)


def answers(port: int) -> bool:
    try:
        return get(port, "/healthz", timeout=2)[0] in (200, 404)
    except OSError:
        return False


def refreshed(db) -> dict[int, float]:
    """tmdb id -> when its refresh was recorded (after its offers were committed)."""
    with db.session() as session:
        rows = session.exec(select(Film.tmdb_id, FilmProviderState.last_success_at)
                            .join(FilmProviderState, FilmProviderState.film_id == Film.id)
                            .where(FilmProviderState.provider == PROVIDER,
                                   FilmProviderState.last_success_at.is_not(None))).all()
    return {tmdb_id: at.timestamp() for tmdb_id, at in rows}


def leased_to(db, pid: int) -> set[int]:
    with db.session() as session:
        rows = session.exec(select(Film.tmdb_id)
                            .join(FilmProviderState, FilmProviderState.film_id == Film.id)
                            .where(FilmProviderState.provider == PROVIDER,
                                   FilmProviderState.lease_owner.like(f"%:{pid}:%"))).all()
    return set(rows)


def test_web_workers_and_two_schedulers_one_killed(db, database_url, tmdb, tmp_path):
    with db.session() as session:
        session.add_all(Film(title=f"Film {n}", year=2000, tmdb_id=n) for n in range(1, FILMS + 1))
    config = write_config(tmp_path / "config.toml", database_url, tmdb.url)
    port = free_port()
    web, schedulers = start_processes(config, port, tmp_path)
    visitors = None
    try:
        wait_for(lambda: answers(port), "gunicorn", tmp_path)
        visitors = Visitors(port).start()
        wait_for(lambda: sum(tmdb.fetched.values()) >= KILL_AFTER, "the first fetches", tmp_path)
        killed = schedulers[0]
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        held_when_killed = leased_to(db, killed.pid)
        wait_for(lambda: len(refreshed(db)) == FILMS, "every film refreshed", tmp_path, db)
        time.sleep(REVISION_CHECK + 0.2)  # every worker's memo of every film has run out
        visitors.stop()
        final = {film: get(port, widget(film)) for film in range(1, FILMS + 1)}
        assert schedulers[1].poll() is None, (tmp_path / "scheduler2.log").read_text()
    finally:
        if visitors is not None:
            visitors.stop()
        for process in (web, *schedulers):
            if process.poll() is None:
                process.terminate()
        for process in (web, *schedulers):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # Every film fetched; twice only if its first answer died with the killed scheduler.
    fetched = {int(path.rsplit("/", 1)[1]): count for path, count in tmdb.fetched.items()}
    assert sorted(fetched) == list(range(1, FILMS + 1))
    twice = {film for film, count in fetched.items() if count > 1}
    assert twice <= held_when_killed, (twice, held_when_killed)
    assert max(fetched.values()) <= 2
    assert len(held_when_killed) <= 2 * PER_RUN  # the chunk being stored and the next one
    assert tmdb.refused == 0

    # No 5xx, no failed connection; every click answered with its redirect and counted once.
    statuses = Counter(status for _, _, status, _ in visitors.loads)
    assert not visitors.errors, visitors.errors[:5]
    assert set(statuses) <= {200, 404}, statuses
    assert set(visitors.click_statuses) == {302}, visitors.click_statuses
    with db.session() as session:
        assert session.exec(select(func.count()).select_from(Click)).one() == visitors.click_statuses[302]

    # A widget requested revision_check_seconds after its film was stored shows its offers.
    stored_at = refreshed(db)
    late = [(film, links) for sent, film, status, links in visitors.loads
            if sent > stored_at[film] + REVISION_CHECK]
    assert late, "no widget was loaded after its film was refreshed"
    assert [film for film, links in late if not links] == []
    assert [film for film, (status, html) in final.items()
            if status != 200 or not GO_LINK.search(html)] == []
