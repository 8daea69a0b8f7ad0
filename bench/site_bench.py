"""Site traffic: a catalog of N films x 2 regions on PostgreSQL, widget requests drawn Zipf
(s = 1.0) over the films, 2 gunicorn workers, a refresh writing meanwhile; throughput and
latency against a plain Flask app on the same gunicorn in the same run.

    python bench/site_bench.py --database-url postgresql://postgres@127.0.0.1:5432/bench_site \
        [--films 100000] [--duration 30] [--connections 16] [--writes-per-second 40]

The database is emptied, then filled: one film through the real catalog path (which stores
its source and platforms), the others copied from it in bulk, each with 4 offers (rent and
buy, HD and SD, on 2 platforms) in US and in GB. The request list is 200 000 How to Watch
URLs (region US or GB, locale en_US), film ranks drawn with P(rank) proportional to 1/rank
and mapped onto films in a random order; every wrk thread walks it from its own offset.

Measured on one gunicorn server at a time, each with the same command (2 sync workers, the
service's gunicorn settings, affiliate.gunicorn_conf):
a plain Flask app answering one short HTML string (the ceiling of anything served by Flask
on this gunicorn), then the service, both while a writer process stores new prices for
`--writes-per-second` random films through `catalog.reconcile` (each raises the film's
revision, so its rendered widgets are no longer the current ones). Printed: requests/s,
p50/p95/p99 from wrk, the widgets' share of the plain app, non-2xx answers, and the hit
rates of each worker's answer memo (whether answered before Flask or in it) and fragment
cache during the measurement (counted by wrapping them in this bench's app), its garbage
collections then (count, total and longest pause) and its peak memory. `--shared-fragments REDIS_URL` serves with `http.shared_fragments` (the
fragment cache's hits then include renderings found in Redis); that Redis is flushed.
`--prime` first asks every distinct URL of the list once (~49 000 at 100 000 films), so the
measurement sees a site whose pages have been asked since their films last changed, not the
first minutes after a cold start. Not a test: numbers vary with the machine;
bench/RESULTS.md keeps what was measured and how.
"""
from __future__ import annotations

import argparse
import atexit
import bisect
import itertools
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKERS = 2
REGIONS = ("US", "GB")
REQUESTS = 200_000
PLATFORMS = (("bench-stream", "Bench Stream"), ("bench-store", "Bench Store"))
VARIANTS = (("rent", "HD"), ("rent", "SD"), ("buy", "HD"), ("buy", "SD"))
SOURCE = "bench"
PLAIN_BODY = "<div class=\"widget\">" + "x" * 2000 + "</div>"
LUA = """\
local paths = {}
for line in io.lines(os.getenv("SITE_BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)); i = math.random(#paths) end
function request() i = i % #paths + 1; return wrk.format("GET", paths[i]) end
function done(summary, latency, requests)
  io.write(string.format("LATENCY %d %d %d\\n", latency:percentile(50), latency:percentile(95),
                         latency:percentile(99)))
end
"""


# --- the apps gunicorn serves ------------------------------------------------------------

def plain_app():
    """A Flask app doing nothing but answer: what the widgets are compared with."""
    from flask import Flask

    app = Flask(__name__)

    @app.get("/plain")
    def plain():
        return PLAIN_BODY

    return app


def service_app():
    """The service as configured from the environment, its answer memo and fragment cache
    counting hits while $SITE_BENCH_STATS/measuring exists; each worker writes its counts to
    $SITE_BENCH_STATS/<pid>.json at exit."""
    from affiliate import create_app

    app = create_app()
    affiliate = app.extensions["affiliate"]
    counts = {"front_hits": 0, "memo_hits": 0, "memo_misses": 0, "cache_hits": 0, "cache_misses": 0,
              "gc_runs": 0, "gc_ms": 0.0, "gc_longest_ms": 0.0}
    memo_get, cache_get = affiliate.answers.get, affiliate.fragments.get_or_render
    memo_wire = affiliate.answers.wire

    measuring = Measuring(Path(os.environ["SITE_BENCH_STATS"]) / "measuring")

    def counted_memo_get(key):
        answer = memo_get(key)
        if measuring.exists():
            counts["memo_hits" if answer is not None else "memo_misses"] += 1
        return answer

    def counted_memo_wire(key):
        found = memo_wire(key)
        if found is not None and measuring.exists():
            counts["front_hits"] += 1
        return found

    def counted_cache_get(key, now, render):
        rendered = []

        def counted_render():
            rendered.append(True)
            return render()

        result = cache_get(key, now, counted_render)
        if measuring.exists():
            counts["cache_misses" if rendered else "cache_hits"] += 1
        return result

    affiliate.answers.get, affiliate.fragments.get_or_render = counted_memo_get, counted_cache_get
    affiliate.answers.wire = counted_memo_wire
    count_collections(counts, measuring)
    stats = Path(os.environ["SITE_BENCH_STATS"])
    atexit.register(lambda: (stats / f"{os.getpid()}.json").write_text(json.dumps(
        {**counts, "peak_mb": peak_megabytes()})))
    return app


class Measuring:
    """Whether the flag file exists, looked at no more than every quarter second: a stat per
    request would be the bench's own cost, counted against the widgets."""

    def __init__(self, flag: Path):
        self.flag, self.until, self.now = flag, 0.0, False

    def exists(self) -> bool:
        if time.monotonic() >= self.until:
            self.now, self.until = self.flag.exists(), time.monotonic() + 0.25
        return self.now


def peak_megabytes() -> float:
    """This process's peak resident memory (VmHWM; Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def count_collections(counts: dict, measuring: Measuring) -> None:
    """The garbage collector's pauses during the measurement: a worker answers nothing
    while one runs, so a long one shows in the tail latency."""
    import gc

    started = []

    def callback(phase, info):
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started and measuring.exists():
            pause = (time.perf_counter() - started[0]) * 1000
            counts["gc_runs"] += 1
            counts["gc_ms"] = round(counts["gc_ms"] + pause, 1)
            counts["gc_longest_ms"] = round(max(counts["gc_longest_ms"], pause), 1)

    gc.callbacks.append(callback)


# --- the catalog ---------------------------------------------------------------------------

def result_for(tmdb_ids, price_of):
    from providers.base import FilmKey, FilmRecord, OfferKind, OfferRecord, PlatformRecord, ProviderResult, Quality

    films, offers = [], []
    for tmdb_id in tmdb_ids:
        key = FilmKey(tmdb_id=tmdb_id)
        films.append(FilmRecord(key=key, title=f"Film {tmdb_id}", year=2000, tmdb_id=tmdb_id))
        for region, (slug, name), (kind, quality) in itertools.product(REGIONS, PLATFORMS, VARIANTS):
            offers.append(OfferRecord(
                film=key, platform=PlatformRecord(slug, name), region=region, kind=OfferKind(kind),
                quality=Quality(quality), link=f"https://{slug}.example/watch/{tmdb_id}",
                price=price_of(tmdb_id, kind, quality), currency="USD" if region == "US" else "GBP"))
    return ProviderResult(films=films, offers=offers)


def base_price(tmdb_id: int, kind: str, quality: str) -> Decimal:
    return Decimal("2.99") + (3 if kind == "buy" else 0) + (1 if quality == "HD" else 0)


def load_catalog(database_url: str, films: int) -> None:
    """Film 1 through catalog.reconcile; films 2..N copied from it with multi-row INSERTs."""
    from sqlalchemy import insert, select

    from affiliate.catalog import prepare, reconcile
    from affiliate.db import Database
    from affiliate.matching.titles import fold
    from affiliate.models import Film, Offer
    from affiliate.types import utcnow

    db = Database(database_url)
    prepare(db)
    reconcile(db, SOURCE, result_for([1], base_price), hide_after_misses=3)
    with db.engine.begin() as connection:
        template = [dict(row._mapping) for row in connection.execute(
            select(Offer.__table__).where(Offer.__table__.c.film_id == select(Film.id).where(
                Film.tmdb_id == 1).scalar_subquery()))]
    now = utcnow()
    for start in range(2, films + 1, 5000):
        ids = range(start, min(start + 5000, films + 1))
        with db.engine.begin() as connection:
            film_ids = connection.execute(insert(Film.__table__).returning(
                Film.__table__.c.id, sort_by_parameter_order=True), [
                {"title": f"Film {n}", "title_key": fold(f"Film {n}"), "year": 2000, "tmdb_id": n,
                 "created_at": now, "revision": 1} for n in ids]).scalars().all()
            rows = []
            for film_id, tmdb_id in zip(film_ids, ids, strict=True):
                for offer in template:
                    row = {**offer, "film_id": film_id,
                           "link": offer["link"].rsplit("/", 1)[0] + f"/{tmdb_id}"}
                    row.pop("id")
                    rows.append(row)
            connection.execute(insert(Offer.__table__), rows)
    db.dispose()


def empty_database(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def zipf_paths(films: int, path: Path, seed: int = 15) -> None:
    rng = random.Random(seed)
    weights = list(itertools.accumulate(1 / rank for rank in range(1, films + 1)))
    film_of_rank = list(range(1, films + 1))
    rng.shuffle(film_of_rank)
    lines = []
    for _ in range(REQUESTS):
        rank = bisect.bisect_left(weights, rng.random() * weights[-1])
        lines.append(f"/widgets/how-to-watch/tmdb:{film_of_rank[rank]}"
                     f"?region={rng.choice(REGIONS)}&locale=en_US")
    path.write_text("\n".join(lines) + "\n")


# --- the writer ----------------------------------------------------------------------------

def write_prices(database_url: str, films: int, per_second: float, stop, written) -> None:
    """Every second, new prices for `per_second` random films, as a refresh stores them."""
    from affiliate.catalog import reconcile
    from affiliate.db import Database

    db = Database(database_url)
    rng = random.Random(7)
    step = 0
    while not stop.is_set():
        started = time.monotonic()
        step += 1
        batch = rng.sample(range(1, films + 1), max(1, int(per_second)))
        reconcile(db, SOURCE, result_for(batch, lambda *args: base_price(*args) + step % 7),
                  hide_after_misses=3)
        written.value += len(batch)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    db.dispose()


# --- serving and measuring -----------------------------------------------------------------

def start_gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "-c", "python:affiliate.gunicorn_conf",
               "--workers", str(WORKERS), "--bind",
               f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "--log-level", "warning",
               f"site_bench:{app}"]
    server = subprocess.Popen(command, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP answer (404 from the plain app)
                return server
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer within 60 s")


def wrk(port: int, paths: Path, duration: int, connections: int, script: Path) -> dict:
    command = ["wrk", "--threads", "2", "--connections", str(connections), "--duration",
               f"{duration}s", "--timeout", "10s", "--script", str(script),
               f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "SITE_BENCH_PATHS": str(paths)}).stdout
    p50, p95, p99 = (int(v) / 1000 for v in re.search(r"LATENCY (\d+) (\d+) (\d+)", output).groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1) if errors else None,
            "command": " ".join(command)}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prime(port: int, paths: Path, threads: int = 4) -> dict:
    """Every distinct URL of the request list asked once, as a site's pages have been asked
    since their films last changed: what a shared fragment store holds on a running site."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    distinct = list(dict.fromkeys(paths.read_text().split()))
    started = time.monotonic()

    def ask(share: list[str]) -> int:
        connection, failed = http.client.HTTPConnection("127.0.0.1", port, timeout=30), 0
        for path in share:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            failed += response.status != 200
        connection.close()
        return failed

    with ThreadPoolExecutor(threads) as pool:
        failed = sum(pool.map(ask, [distinct[n::threads] for n in range(threads)]))
    return {"urls": len(distinct), "seconds": round(time.monotonic() - started, 1), "non_200": failed}


def measure(app: str, env: dict[str, str], paths: Path, args, script: Path) -> dict:
    port = free_port()
    server = start_gunicorn(app, port, env)
    try:
        primed = prime(port, paths) if args.prime else None
        wrk(port, paths, args.warm_up, args.connections, script)  # workers import, connect, fill caches
        flag = Path(env["SITE_BENCH_STATS"]) / "measuring" if "SITE_BENCH_STATS" in env else None
        if flag:
            flag.touch()  # the workers count hits from now on
        try:
            return {**wrk(port, paths, args.duration, args.connections, script), "primed": primed}
        finally:
            if flag:
                flag.unlink()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL; emptied first")
    parser.add_argument("--films", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=30, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warm-up", type=int, default=2, help="seconds of load before each measurement")
    parser.add_argument("--writes-per-second", type=float, default=40)
    parser.add_argument("--skip-load", action="store_true", help="reuse the catalog already loaded")
    parser.add_argument("--shared-fragments", metavar="REDIS_URL",
                        help="serve with http.shared_fragments in this Redis (flushed first)")
    parser.add_argument("--prime", action="store_true",
                        help="ask every distinct URL once before the warm-up (a running site's store)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="site-bench-"))
    started = time.monotonic()
    if not args.skip_load:
        empty_database(args.database_url)
        load_catalog(args.database_url, args.films)
    loaded = time.monotonic() - started
    zipf_paths(args.films, work / "paths.txt")
    (work / "plain.txt").write_text("/plain\n")
    script = work / "zipf.lua"
    script.write_text(LUA)
    stats = work / "stats"
    stats.mkdir()

    # The writer runs through both measurements: the two servers share the machine with it
    # alike, so the share measures what serving widgets costs, not what writing costs.
    stop, written = multiprocessing.Event(), multiprocessing.Value("i", 0)
    writer = multiprocessing.Process(target=write_prices, args=(
        args.database_url, args.films, args.writes_per_second, stop, written))
    writer.start()
    env = {"AFFILIATE_SERVICE__DATABASE_URL": args.database_url,
           "AFFILIATE_SERVICE__DEMO_CATALOG": "false", "SITE_BENCH_STATS": str(stats)}
    if args.shared_fragments:
        from redis import Redis

        Redis.from_url(args.shared_fragments).flushdb()
        env.update({"AFFILIATE_SERVICE__REDIS_URL": args.shared_fragments,
                    "AFFILIATE_HTTP__SHARED_FRAGMENTS": "true"})
    try:
        plain = measure("plain_app()", {}, work / "plain.txt", args, script)
        widgets = measure("service_app()", env, work / "paths.txt", args, script)
    finally:
        stop.set()
        writer.join(timeout=60)
    counts = [json.loads(p.read_text()) for p in stats.glob("*.json")]
    total = {name: sum(c[name] for c in counts) for name in counts[0]} if counts else {}
    memo_hits = total.get("front_hits", 0) + total.get("memo_hits", 0)
    memo = memo_hits + total.get("memo_misses", 0)
    cache = total.get("cache_hits", 0) + total.get("cache_misses", 0)
    print(json.dumps({
        "films": args.films, "load_s": round(loaded, 1), "duration_s": args.duration,
        "connections": args.connections, "plain": plain, "widgets": widgets,
        "share_of_plain": round(widgets["rps"] / plain["rps"], 3),
        "films_written": written.value,
        "answer_memo_hit_rate": round(memo_hits / memo, 3) if memo else None,
        "shared_fragments": bool(args.shared_fragments),
        # With the shared store, a hit is a rendering found in this process or in the store.
        "fragment_cache_hit_rate_after_memo_miss": round(total["cache_hits"] / cache, 3) if cache else None,
        "worker_counts": counts}, indent=1))


if __name__ == "__main__":
    main()
