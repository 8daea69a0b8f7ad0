"""Refresh benchmark: N films against a local stand-in TMDB that enforces its rate limit.

    python bench/refresh_bench.py 1000 10000 [--rate 40] [--margin 0.03]
    python bench/refresh_bench.py 10000 100000 --processes 2 \
        --database-url postgresql://postgres@127.0.0.1:5432/bench_refresh

Each size runs in a fresh process on a fresh database (a temporary SQLite file, or the
PostgreSQL database named, emptied first): the films are inserted, then `--processes`
processes (spawned, so each one's peak memory is its own) each build a RefreshEngine as
`affiliate scheduler` does and, started together, run it for the TMDB provider until no
film is left to claim. They fetch every film through the real TMDB adapter, throttled by
the real shared limiter (one quota for all processes, kept in the database; it leaves
`--margin` of the rate unused, as `refresh.rate_margin` does), and reconcile the answers.
The stand-in answers 429 to any request beyond its rate.
Printed per size: wall time from the start to the last process's end against the minimum
(requests / rate), requests served against the minimum (one per film), 429s sent, the
peak RSS of each process (its own, not what it inherits from the bench), its garbage
collections, and how late requests arrived after the limiter let them go (`lateness`).
Not a test: numbers vary with the machine; bench/RESULTS.md keeps what was measured and how.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WATCH_PROVIDERS = json.loads((ROOT / "tests/recordings/tmdb/watch_providers_451.json").read_text())
# Films without known people are read with their credits in one details request.
DETAILS = json.loads((ROOT / "tests/recordings/tmdb/details_451.json").read_text())


class RateLimitedTmdb(ThreadingHTTPServer):
    """Answers /3/movie/<id> and /3/movie/<id>/watch/providers, at most `rate` requests in
    any second."""

    daemon_threads = True

    def __init__(self, rate: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rate, self.lock = rate, threading.Lock()
        self.recent: list[float] = []
        self.served = self.refused = 0
        self.late: list[tuple[float, float]] = []  # (ms since the limiter's stamp, since sent)

    def admit(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.recent = [t for t in self.recent if now - t < 1.0]
            if len(self.recent) >= self.rate:
                self.refused += 1
                return False
            self.recent.append(now)
            self.served += 1
            return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections kept alive, as requests and TMDB's CDN keep them
    disable_nagle_algorithm = True  # else a kept-alive answer's body waits for a delayed ACK

    def do_GET(self):
        arrived = time.time() * 1000
        if self.path == "/stats":
            self._send(200, json.dumps({"served": self.server.served, "refused": self.server.refused,
                                        "late": self.server.late}).encode())
            return
        if "X-Granted" in self.headers:
            self.server.late.append((arrived - float(self.headers["X-Granted"]),
                                     arrived - float(self.headers["X-Sent"])))
        if not self.server.admit():
            self._send(429, b'{"status_code":25,"status_message":"over the limit"}', {"Retry-After": "1"})
            return
        parts = urlsplit(self.path).path.split("/")  # "", "3", "movie", id[, "watch", "providers"]
        film_id = int(parts[3])
        body = WATCH_PROVIDERS if parts[4:] else {**DETAILS, "imdb_id": f"tt{film_id:07d}"}
        self._send(200, json.dumps({**body, "id": film_id}).encode())

    def _send(self, status, body, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_standin(rate: float, ports) -> None:
    """The stand-in runs in its own process, so it does not share the refresh's GIL."""
    server = RateLimitedTmdb(rate)
    ports.put(server.server_address[1])
    server.serve_forever()


def stamp_requests() -> None:
    """Send every request with the limiter's stamp for it (X-Granted) and the moment it left
    (X-Sent), in epoch ms, so the stand-in can say how late each one arrived against the
    window the limiter counted it in, and whether the time went before sending or after."""
    import requests

    from affiliate.limits import ProviderLimiter

    granted = threading.local()
    put, send = ProviderLimiter._put, requests.adapters.HTTPAdapter.send

    def stamped_put(self, now):
        decision = put(self, now)
        if decision.allowed:
            granted.ms = now
        return decision

    def stamped_send(self, request, **kwargs):
        request.headers["X-Granted"] = str(granted.ms)
        request.headers["X-Sent"] = f"{time.time() * 1000:.1f}"
        return send(self, request, **kwargs)

    ProviderLimiter._put, requests.adapters.HTTPAdapter.send = stamped_put, stamped_send


def lateness(late: list[list[float]], margin: float) -> dict:
    """How late requests arrived after the limiter's stamp (p50, p99, max ms), how many later
    than the margin lets one be (a 429 needs one of those), and the longest wait before
    sending (the client's: GIL, collector, connection) and after (transit and the stand-in)."""
    if not late:
        return {}
    since_stamp = sorted(total for total, _ in late)
    allowed = 1000 / (1 - margin) - 1000
    return {"p50_ms": round(since_stamp[len(since_stamp) // 2], 1),
            "p99_ms": round(since_stamp[int(len(since_stamp) * 0.99)], 1),
            "max_ms": round(since_stamp[-1], 1),
            f"over_{allowed:.0f}_ms": sum(total > allowed for total in since_stamp),
            "max_before_sending_ms": round(max(total - sent for total, sent in late), 1),
            "max_after_sending_ms": round(max(sent for _, sent in late), 1),
            "worst_before_after_ms": [[round(total - sent, 1), round(sent, 1)]
                                      for total, sent in sorted(late, reverse=True)[:5]]}


def refresh_worker(url: str, settings: dict, ready, go, results) -> None:
    """One scheduler-like process: build the engine, wait for the start, refresh until no
    film is left to claim; put what it did on `results`."""
    from affiliate.config import load_settings
    from affiliate.db import Database
    from affiliate.long_lived import settle
    from affiliate.refresh import RefreshEngine

    stamp_requests()
    db = Database(url)
    engine = RefreshEngine(db, load_settings(**settings))
    settle()  # as `affiliate scheduler` does before it starts
    pauses = collection_pauses()
    ready.put(os.getpid())
    go.wait()
    pauses.update(gc_runs=0, gc_longest_ms=0.0, gc_over_50_ms=0)
    reports = []
    while True:  # as the scheduler's next due check would: until nothing is left to claim
        (report,) = engine.run("tmdb")
        reports.append(report)
        if not report.films:
            break
    ended = time.monotonic()
    engine.close()
    db.dispose()
    results.put({"ended": ended, "requests": engine.requests,
                 "statuses": sorted({r.status for r in reports}),
                 "offers_added": sum(r.stats.offers_added for r in reports),
                 "peak_rss_mb": own_peak_rss_mb(), **pauses})


def collection_pauses() -> dict:
    """The garbage collections from now on: how many, the longest pause (ms) and how many
    paused over 50 ms. A request the limiter has let go waits for a collection before it is
    sent and arrives late by as much (see bench/RESULTS.md). Counted, not listed: a list of
    every pause would grow with the run and show in the peak memory measured."""
    import gc

    pauses = {"gc_runs": 0, "gc_longest_ms": 0.0, "gc_over_50_ms": 0}
    started: list[float] = []

    def callback(phase, info):
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            pause = (time.perf_counter() - started[0]) * 1000
            pauses["gc_runs"] += 1
            pauses["gc_longest_ms"] = round(max(pauses["gc_longest_ms"], pause), 1)
            pauses["gc_over_50_ms"] += pause > 50

    gc.callbacks.append(callback)
    return pauses


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM, Linux). Not ru_maxrss: a spawned process starts
    with its parent's peak there (the kernel carries it over at exec), and the parent has
    just built every film's row, so it grew with the films whatever the refresh did."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return round(kib / 1024, 1)


def empty_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run_one(films: int, rate: float, margin: float, processes: int, database_url: str | None) -> dict:
    from sqlalchemy import insert

    from affiliate.catalog import prepare
    from affiliate.db import Database
    from affiliate.models import Film
    from affiliate.types import utcnow

    spawn = multiprocessing.get_context("spawn")
    ports = spawn.Queue()
    standin = spawn.Process(target=serve_standin, args=(rate, ports), daemon=True)
    standin.start()
    port = ports.get(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        if database_url:
            empty_database(url)
        settings = dict(
            service={"database_url": url, "demo_catalog": False},
            refresh={"max_films_per_run": films, "rate_margin": margin},
            providers={"tmdb": {"type": "tmdb", "read_access_token": "bench-token",
                                "base_url": f"http://127.0.0.1:{port}",
                                "requests_per_second": rate,  # the stand-in's published limit
                                "regions": ["US"]}})
        db = Database(url)
        prepare(db)
        with db.engine.begin() as connection:
            connection.execute(insert(Film), [{"title": f"Film {n}", "year": 2000, "tmdb_id": n,
                                               "created_at": utcnow()} for n in range(1, films + 1)])
        db.dispose()
        ready, results, go = spawn.Queue(), spawn.Queue(), spawn.Event()
        workers = [spawn.Process(target=refresh_worker, args=(url, settings, ready, go, results))
                   for _ in range(processes)]
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get(timeout=120)
        started = time.monotonic()
        go.set()
        done = [results.get() for _ in workers]
        for worker in workers:
            worker.join()
    wall = max(d["ended"] for d in done) - started
    counts = json.loads(urlopen(f"http://127.0.0.1:{port}/stats").read())
    standin.terminate()
    minimum = films / rate
    return {"films": films, "rate": rate, "margin": margin, "processes": processes,
            "database": "postgresql" if database_url else "sqlite",
            "statuses": sorted({s for d in done for s in d["statuses"]}),
            "offers_added": sum(d["offers_added"] for d in done), "wall_s": round(wall, 1),
            "minimum_s": round(minimum, 1), "ratio": round(wall / minimum, 3),
            "requests": counts["served"], "minimum_requests": films, "refused_429": counts["refused"],
            "requests_per_process": [d["requests"] for d in done],
            "peak_rss_mb": [d["peak_rss_mb"] for d in done],
            "lateness": lateness(counts["late"], margin),
            "gc": [{name: d[name] for name in ("gc_runs", "gc_longest_ms", "gc_over_50_ms")}
                   for d in done]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--margin", type=float, help="default: refresh.rate_margin's")
    parser.add_argument("--processes", type=int, default=1, help="refresh processes sharing the quota")
    parser.add_argument("--database-url", help="PostgreSQL, emptied for each size; default: SQLite")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.margin is None:
        from affiliate.limits import RATE_MARGIN

        args.margin = RATE_MARGIN
    if args.child:
        print(json.dumps(run_one(args.sizes[0], args.rate, args.margin, args.processes,
                                 args.database_url)))
        return
    for size in args.sizes:
        database = ["--database-url", args.database_url] if args.database_url else []
        out = subprocess.run([sys.executable, __file__, str(size), "--rate", str(args.rate),
                              "--margin", str(args.margin), "--processes", str(args.processes),
                              *database, "--child"],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
