"""Refresh benchmark: N films against a local stand-in TMDB that enforces its rate limit.

    python bench/refresh_bench.py 1000 10000 [--rate 40] [--margin 0.05]

Each size runs in a fresh process (so its peak memory is its own) on a fresh SQLite
database: the films are inserted, then one RefreshEngine run per provider fetches every
film's watch providers through the real TMDB adapter, throttled by the real shared
limiter (which keeps `--margin` of the rate unused, as `refresh.rate_margin` does), and
reconciles them. The stand-in answers 429 to any request beyond its rate.
Printed per size: wall time against the minimum (requests / rate), requests issued
against the minimum (one per film), 429s received and peak RSS. Not a test: numbers vary
with the machine; bench/RESULTS.md keeps what was measured and how.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BODY = json.loads((ROOT / "tests/recordings/tmdb/watch_providers_451.json").read_text())


class RateLimitedTmdb(ThreadingHTTPServer):
    """Answers /3/movie/<id>/watch/providers, at most `rate` requests in any second."""

    daemon_threads = True

    def __init__(self, rate: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rate, self.lock = rate, threading.Lock()
        self.recent: list[float] = []
        self.served = self.refused = 0

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
    def do_GET(self):
        if self.path == "/stats":
            self._send(200, json.dumps({"served": self.server.served,
                                        "refused": self.server.refused}).encode())
            return
        if not self.server.admit():
            self._send(429, b'{"status_code":25,"status_message":"over the limit"}', {"Retry-After": "1"})
            return
        film_id = int(self.path.split("/")[3])
        self._send(200, json.dumps({**BODY, "id": film_id}).encode())

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


def run_one(films: int, rate: float, margin: float) -> dict:
    from sqlalchemy import insert

    from affiliate.catalog import prepare
    from affiliate.config import load_settings
    from affiliate.db import Database
    from affiliate.models import Film
    from affiliate.refresh import RefreshEngine
    from affiliate.types import utcnow

    ports = multiprocessing.Queue()
    standin = multiprocessing.Process(target=serve_standin, args=(rate, ports), daemon=True)
    standin.start()
    port = ports.get(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        settings = load_settings(
            service={"database_url": url},
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
        engine = RefreshEngine(db, settings)
        started = time.monotonic()
        (report,) = engine.run("tmdb")
        wall = time.monotonic() - started
        engine.close()
        db.dispose()
    counts = json.loads(urlopen(f"http://127.0.0.1:{port}/stats").read())
    standin.terminate()
    minimum = films / rate
    return {"films": films, "rate": rate, "margin": margin, "status": report.status,
            "offers_added": report.stats.offers_added, "wall_s": round(wall, 1),
            "minimum_s": round(minimum, 1), "ratio": round(wall / minimum, 2),
            "requests": counts["served"], "minimum_requests": films, "refused_429": counts["refused"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.sizes[0], args.rate, args.margin)))
        return
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, str(size), "--rate", str(args.rate),
                              "--margin", str(args.margin), "--child"],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
