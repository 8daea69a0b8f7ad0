"""Widget throughput on gunicorn (2 workers), against a trivial endpoint of the same app on
the same server in the same run, and SQL queries per uncached render.

    python bench/widget_bench.py [--database-url URL] [--duration 10] [--connections 16]

A fresh database (a temporary SQLite file unless --database-url names another; PostgreSQL
is emptied first) gets the demo catalog and three films with 5, 50 and 500 offers and as
many products. In-process, each widget of each film is rendered with the fragment cache off
and a SQLAlchemy listener counting the queries of the request. Then gunicorn serves
`bench_app()` (the service plus /bench/trivial, which answers two bytes without touching
the database) four times: with the fragment cache (one URL over and over: cache hits, and
the same with If-None-Match: 304s), with `http.fragment_cache_size = 0` (every request
renders), with every view model built once and reused (VIEW_ONCE: the ceiling of an
uncached render), and with the demo film's view models read from a table (STORED_VIEW: the
best case of precomputed rows). Each server's trivial endpoint is measured in the same run
as its widgets. The load generator is wrk when installed, else a Python multi-process
client. Not a test: numbers vary with the machine; bench/RESULTS.md keeps what was measured
and how.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from http.client import HTTPConnection
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKERS = 2
OFFER_COUNTS = (5, 50, 500)
TRIVIAL = "/bench/trivial"
WIDGETS = ("how-to-watch", "related-products")
NO_CACHE = {"AFFILIATE_HTTP__FRAGMENT_CACHE_SIZE": "0"}
# The bench's own switch (not a setting of the service): each widget's view model is built
# once per film, region and locale and then reused, so a request does everything an uncached
# one does except read the database and build the view: the ceiling for any uncached render.
VIEW_ONCE = {**NO_CACHE, "WIDGET_BENCH_VIEW_ONCE": "1"}
# The best case of precomputed rows: the demo film's view models, built and pickled into a
# table before the server starts, are read back by key and unpickled (no text is formatted,
# no badge decided), so a request pays one keyed read and no building.
STORED_VIEW = {**NO_CACHE, "WIDGET_BENCH_STORED_VIEW": "1"}
STORED_VIEWS_TABLE = "bench_stored_view"


def widget_path(widget: str, film: str) -> str:
    return f"/widgets/{widget}/{film}?region=US&locale=en_US"


def bench_app():
    """The service, configured from the environment as in production, plus a trivial
    endpoint that is the ceiling for any widget on this server (gunicorn calls this)."""
    from affiliate import create_app

    app = create_app()
    if os.environ.get("WIDGET_BENCH_VIEW_ONCE"):
        build_views_once()
    if os.environ.get("WIDGET_BENCH_STORED_VIEW"):
        read_stored_views()

    @app.get(TRIVIAL)
    def trivial():
        return "ok", 200, {"Content-Type": "text/plain"}

    return app


def wrap_builders(wrap) -> None:
    """Replace each of the blueprint's view-model builders by `wrap(widget, build)`."""
    from affiliate import blueprint

    for name, widget in list(blueprint._WIDGETS.items()):
        blueprint._WIDGETS[name] = widget._replace(build=wrap(name, widget.build))


def build_views_once() -> None:
    """VIEW_ONCE: each view model is built on its first request and then reused."""
    def once(_widget, build):
        views = {}

        def built(db, film, region, locale, settings, **options):
            key = (film.id, region, locale)
            if key not in views:
                views[key] = build(db, film, region, locale, settings, **options)
            return views[key]
        return built

    wrap_builders(once)


def store_views(database_url: str, film_ref: str) -> None:
    """Pickle each widget's view model of `film_ref` (US, en_US) into STORED_VIEWS_TABLE."""
    from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table

    from affiliate import blueprint
    from affiliate.config import load_settings
    from affiliate.db import Database

    settings = load_settings(service={"database_url": database_url})
    db = Database(database_url)
    table = Table(STORED_VIEWS_TABLE, MetaData(), Column("widget", String, primary_key=True),
                  Column("film_id", Integer, primary_key=True),
                  Column("region", String, primary_key=True),
                  Column("locale", String, primary_key=True), Column("view", LargeBinary))
    table.create(db.engine, checkfirst=True)
    with db.engine.begin() as connection:
        for widget, (build, _macro) in blueprint._WIDGETS.items():
            view = build(db, film_ref, "US", "en_US", settings)
            connection.execute(table.insert().values(widget=widget, film_id=view.film.id,
                                                     region="US", locale="en_US",
                                                     view=pickle.dumps(view)))
    db.dispose()


def read_stored_views() -> None:
    """STORED_VIEW: a stored view model is read by key and unpickled; any other is built as
    usual."""
    from sqlalchemy import text

    query = text(f"SELECT view FROM {STORED_VIEWS_TABLE} WHERE widget = :widget "
                 "AND film_id = :film_id AND region = :region AND locale = :locale")

    def stored(widget, build):
        def built(db, film, region, locale, settings, **options):
            with db.reader.connect() as connection:
                view = connection.execute(query, {"widget": widget, "film_id": film.id,
                                                  "region": region, "locale": locale}).scalar()
            return pickle.loads(view) if view else build(db, film, region, locale, settings, **options)
        return built

    wrap_builders(stored)


def film_tmdb_id(offers: int) -> int:
    return 900_000 + offers


def load_catalog(database_url: str) -> None:
    """Demo catalog, then one film per OFFER_COUNTS with that many offers and products."""
    from affiliate.catalog import prepare, reconcile
    from affiliate.config import load_settings
    from affiliate.db import Database
    from affiliate.refresh import run_refresh

    settings = load_settings(service={"database_url": database_url})
    db = Database(database_url)
    prepare(db)
    run_refresh(db, settings, "demo")
    for count in OFFER_COUNTS:
        reconcile(db, "bench", synthetic_catalog(count), hide_after_misses=3)
    db.dispose()


def synthetic_catalog(count: int):
    """A film with `count` offers (rent and buy in SD, HD and 4K on count/6 platforms, in
    the US) and `count` products."""
    from providers.base import (
        FilmKey,
        FilmRecord,
        OfferKind,
        OfferRecord,
        PlatformRecord,
        ProductFormat,
        ProductLink,
        ProductRecord,
        ProviderResult,
        Quality,
        Relation,
    )

    tmdb_id = film_tmdb_id(count)
    film = FilmRecord(key=FilmKey(tmdb_id=tmdb_id), title=f"Bench {count}", year=2020,
                      tmdb_id=tmdb_id)
    variants = [(kind, quality) for kind in (OfferKind.RENT, OfferKind.BUY)
                for quality in (Quality.SD, Quality.HD, Quality.UHD)]
    offers = []
    for index in range(count):
        platform_number, variant = divmod(index, len(variants))
        slug = f"bench-platform-{platform_number}"
        offers.append(OfferRecord(
            film=film.key, platform=PlatformRecord(slug, f"Bench Platform {platform_number}"),
            region="US", kind=variants[variant][0], quality=variants[variant][1],
            link=f"https://{slug}.example/watch/{tmdb_id}", price=Decimal("1.99") + index,
            currency="USD"))
    products = [ProductRecord(
        merchant="Bench Shop", merchant_id=f"bench-{tmdb_id}-{index}", title=f"Item {index}",
        format=ProductFormat.DVD, link=f"https://shop.example/bench-{tmdb_id}-{index}",
        region="US", price=Decimal("9.99"), currency="USD",
        films=(ProductLink(film.key, Relation.EDITION, index),)) for index in range(count)]
    return ProviderResult(films=[film], offers=offers, products=products)


def queries_per_uncached_render(database_url: str) -> dict[tuple[str, int], int]:
    """(widget, offers) -> SQL statements of one widget request with the cache off."""
    from sqlalchemy import event

    from affiliate import create_app
    from affiliate.config import load_settings

    app = create_app(load_settings(service={"database_url": database_url},
                                   http={"fragment_cache_size": 0}))
    engine = app.extensions["affiliate"].db.engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    client = app.test_client()
    counts = {}
    for count in OFFER_COUNTS:
        for widget in WIDGETS:
            statements.clear()
            response = client.get(widget_path(widget, f"tmdb:{film_tmdb_id(count)}"))
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            counts[widget, count] = len(statements)
    app.extensions["affiliate"].db.dispose()
    return counts


# --- the server -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
            "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"),
            "--log-level", "warning", "widget_bench:bench_app()"]


def start_gunicorn(database_url: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **env, "AFFILIATE_SERVICE__DATABASE_URL": database_url,
           "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(gunicorn_command(port), env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urlopen(f"http://127.0.0.1:{port}{TRIVIAL}", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer within 30 s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


# --- the load generators --------------------------------------------------------------

def wrk_command(url: str, headers: dict[str, str], duration: int, connections: int) -> list[str]:
    command = ["wrk", "--threads", "2", "--connections", str(connections),
               "--duration", f"{duration}s", "--timeout", "60s"]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    return command + [url]


def run_wrk(command: list[str]) -> float:
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise SystemExit(f"errors under load:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def _client(port: int, path: str, headers: dict[str, str], deadline: float, results) -> None:
    connection = HTTPConnection("127.0.0.1", port)
    done = 0
    while time.monotonic() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status >= 400:
            raise SystemExit(f"{path}: HTTP {response.status}")
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
        done += 1
    results.put(done)


def run_python_client(port: int, path: str, headers: dict[str, str], duration: int,
                      connections: int) -> float:
    """One process per connection, for `duration` seconds."""
    results = multiprocessing.Queue()
    deadline = time.monotonic() + duration
    clients = [multiprocessing.Process(target=_client,
                                       args=(port, path, headers, deadline, results))
               for _ in range(connections)]
    for client in clients:
        client.start()
    total = sum(results.get() for _ in clients)
    for client in clients:
        client.join()
    return total / duration


class Load:
    """Measures requests/s of one URL at a time and remembers the commands it ran."""

    def __init__(self, duration: int, connections: int, use_wrk: bool):
        self.duration, self.connections, self.use_wrk = duration, connections, use_wrk
        self.commands: list[str] = []

    def measure(self, port: int, path: str, headers: dict[str, str] | None = None,
                record: bool = True) -> float:
        """requests/s; the path is requested once first (which fills the caches)."""
        headers = headers or {}
        get(port, path, headers)
        if self.use_wrk:
            command = wrk_command(f"http://127.0.0.1:{port}{path}", headers, self.duration,
                                  self.connections)
            if record:
                self.commands.append(" ".join(
                    f"'{part}'" if " " in part or "?" in part else part for part in command))
            return run_wrk(command)
        if record:
            self.commands.append(f"Python client, {self.connections} processes: GET {path}")
        return run_python_client(port, path, headers, self.duration, self.connections)


def get(port: int, path: str, headers: dict[str, str] | None = None):
    """One request (any status, 304 included); the response, read."""
    connection = HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status not in (200, 304):
        raise SystemExit(f"{path}: HTTP {response.status}")
    return response


def etag_of(port: int, path: str) -> str:
    return get(port, path).getheader("ETag")


# --- the run ----------------------------------------------------------------------------

def empty_database(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    if not database_url.startswith("postgresql"):
        return
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def serve_and_measure(database_url: str, env: dict[str, str], load: Load,
                      scenarios: dict[str, tuple[str, bool]]) -> dict[str, float]:
    """requests/s of the trivial endpoint and of each scenario (name -> (path,
    conditional)) on one gunicorn server; a conditional request sends the path's ETag."""
    port = free_port()
    server = start_gunicorn(database_url, port, env)
    try:
        load.measure(port, TRIVIAL, record=False)  # warm-up: every worker imports and connects
        drain(port)
        rates = {"trivial endpoint": load.measure(port, TRIVIAL)}
        for name, (path, conditional) in scenarios.items():
            drain(port)
            headers = {"If-None-Match": etag_of(port, path)} if conditional else {}
            rates[name] = load.measure(port, path, headers)
    finally:
        stop(server)
    return rates


def drain(port: int) -> None:
    """Wait until requests the last load generator left queued are served (gunicorn's sync
    workers take them from the listen queue in order), so they do not slow the next one."""
    for _ in range(WORKERS * 2):
        get(port, TRIVIAL)


def table(title: str, rates: dict[str, float], target: float) -> str:
    trivial = rates["trivial endpoint"]
    rows = [f"| {name} | {rate:,.0f} | {rate / trivial:.0%} |" for name, rate in rates.items()]
    return "\n".join([f"{title} (target: {target:.0%} of the trivial endpoint)\n",
                      "| endpoint | requests/s | share of trivial |", "| --- | ---: | ---: |",
                      *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--python-client", action="store_true",
                        help="use the Python client even when wrk is installed")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="widget-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    empty_database(database_url)
    load_catalog(database_url)
    queries = queries_per_uncached_render(database_url)

    load = Load(args.duration, args.connections,
                shutil.which("wrk") is not None and not args.python_client)
    llv = {widget: widget_path(widget, "tmdb:451") for widget in WIDGETS}
    cached = serve_and_measure(database_url, {}, load, {
        **{f"{widget}, cached": (path, False) for widget, path in llv.items()},
        **{f"{widget}, cached, If-None-Match (304)": (path, True) for widget, path in llv.items()},
    })
    uncached = serve_and_measure(database_url, NO_CACHE, load, {
        f"{widget}, uncached, {name}": (path, False)
        for widget in WIDGETS
        for name, path in [("demo film", llv[widget]),
                           *((f"{count} offers", widget_path(widget, f"tmdb:{film_tmdb_id(count)}"))
                             for count in OFFER_COUNTS)]})
    ceiling = serve_and_measure(database_url, VIEW_ONCE, load, {
        f"{widget}, uncached, view model built once, {name}": (path, False)
        for widget in WIDGETS
        for name, path in [("demo film", llv[widget]),
                           ("50 offers", widget_path(widget, f"tmdb:{film_tmdb_id(50)}"))]})
    store_views(database_url, "tmdb:451")
    stored = serve_and_measure(database_url, STORED_VIEW, load, {
        f"{widget}, uncached, view model read from a table, demo film": (llv[widget], False)
        for widget in WIDGETS})

    print(f"server: {' '.join(gunicorn_command(0)).replace(':0 ', ':PORT ')}")
    print(f"database: {database_url.split('@')[-1]}")
    print(f"load: {'wrk' if load.use_wrk else 'Python client'}, {args.connections} connections, "
          f"{args.duration} s each\n")
    print(table("Fragment cache on", cached, 0.8) + "\n")
    print(table(f"Fragment cache off ({' '.join(f'{k}={v}' for k, v in NO_CACHE.items())})",
                uncached, 0.4) + "\n")
    print(table("Fragment cache off, each view model built once (WIDGET_BENCH_VIEW_ONCE=1): "
                "the same requests without reading or building anything", ceiling, 0.4) + "\n")
    print(table("Fragment cache off, the demo film's view models pickled into a table and read "
                "back by key (WIDGET_BENCH_STORED_VIEW=1): the best case of precomputed rows",
                stored, 0.4) + "\n")
    print("SQL queries per uncached widget request (target: at most 3)\n\n"
          "| offers and products | How to Watch | Related Products |\n| ---: | ---: | ---: |")
    for count in OFFER_COUNTS:
        print(f"| {count} | {queries['how-to-watch', count]} | "
              f"{queries['related-products', count]} |")
    print("\ncommands:\n" + "\n".join(load.commands))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
