"""Kill -9 in the middle of a refresh: every film ends either as before or as after."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

FILMS = 300


def catalog(price: str, extra_offer: bool) -> dict:
    films = [{"title": f"Film {n}", "year": 1990, "imdb_id": f"tt{n:07d}"} for n in range(1, FILMS + 1)]
    offers = []
    for film in films:
        kinds = ["rent", "buy"] + (["subscription"] if extra_offer else [])
        offers += [{"film": f"imdb:{film['imdb_id']}", "platform": "vudu", "region": "US",
                    "kind": kind, "quality": "HD", "link": "https://www.vudu.com/x",
                    **({"price": price, "currency": "USD"} if kind != "subscription" else {})}
                   for kind in kinds]
    return {"platforms": [{"slug": "vudu", "name": "Vudu"}], "films": films, "offers": offers}


def states(database_url: str) -> dict[int, tuple]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT film_id, kind, price FROM offer WHERE hidden = false ORDER BY film_id, kind")).all()
    engine.dispose()
    by_film: dict[int, list] = {}
    for film_id, kind, price in rows:
        by_film.setdefault(film_id, []).append((kind, None if price is None else str(float(price))))
    return {film_id: tuple(offers) for film_id, offers in by_film.items()}


@pytest.fixture
def config(tmp_path, database_url):
    feed = tmp_path / "feed.json"
    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{database_url}"\ndemo_catalog = false\n'
        f'[catalog]\nmax_hidden_share = 1.0\nhide_after_misses = 1\n'
        f'[providers.shop]\ntype = "feed"\nurl = "{feed}"\n')
    return tmp_path, feed


def affiliate(cwd: Path, *args: str, wait: bool = True):
    command = [sys.executable, "-m", "affiliate", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    if wait:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


# The whole refresh takes about half a second; a test process held up that long (seen twice
# in CI) kills it only after the end. Such a try tells nothing, so it is made again.
TRIES = 5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_refresh_leaves_every_film_old_or_new(config, database_url, seed):
    cwd, feed = config
    assert affiliate(cwd, "db", "upgrade").returncode == 0
    new_shape = (("buy", "2.99"), ("rent", "2.99"), ("subscription", None))
    old_shape = (("buy", "3.99"), ("rent", "3.99"))
    rng = random.Random(seed)
    for _ in range(TRIES):
        # The old catalog (again, after a try that came too late: a missing offer is hidden
        # after one miss), then a refresh to the new one, killed once `target` films changed.
        feed.write_text(json.dumps(catalog("3.99", extra_offer=False)))
        assert affiliate(cwd, "refresh").returncode == 0
        old = states(database_url)
        assert set(old.values()) == {old_shape}
        feed.write_text(json.dumps(catalog("2.99", extra_offer=True)))
        kill_after(cwd, database_url, target=rng.randint(1, FILMS - 1))

        after = states(database_url)
        assert set(after) == set(old)
        shapes = [offers for offers in after.values()]
        assert set(shapes) <= {old_shape, new_shape}
        assert shapes.count(new_shape) > 0, "the refresh was killed before any film changed"
        if shapes.count(new_shape) < FILMS:
            break
    else:
        pytest.fail(f"in {TRIES} tries the kill never landed before the refresh ended")
    assert affiliate(cwd, "refresh").returncode == 0  # and the next run completes the rest
    assert set(states(database_url).values()) == {new_shape}


def kill_after(cwd: Path, database_url: str, target: int) -> None:
    """Start a refresh and kill -9 it once about `target` films have their new shape."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    process = affiliate(cwd, "refresh", wait=False)
    deadline = time.monotonic() + 60
    with engine.connect() as connection:
        # Polled on one connection, about every millisecond: a film's new shape (and its
        # subscription offer) lands in one transaction, so counting those counts changed films.
        while time.monotonic() < deadline and process.poll() is None:
            changed = connection.execute(text(
                "SELECT count(*) FROM offer WHERE kind = 'subscription' AND hidden = false"
            )).scalar_one()
            connection.rollback()
            if changed >= target:
                break
            time.sleep(0.001)
    engine.dispose()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
