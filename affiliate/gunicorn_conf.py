"""gunicorn settings for the standalone service: `gunicorn -c python:affiliate.gunicorn_conf
"affiliate.app:create_app()"` (the image's CMD and the systemd unit use it).

Only what the service needs of gunicorn is here; everything else stays gunicorn's own
(WEB_CONCURRENCY, PORT, GUNICORN_CMD_ARGS, command-line options). Metrics: every worker
counts into files under PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode),
so a scrape of any worker sees all of them. The master sets the directory before it forks
(a fresh temporary one unless the environment names one, which is emptied at start: counts
from an earlier run would otherwise be added in), and drops a dead worker's live values.

Config reload: gunicorn answers SIGHUP by forking new workers, which read config.toml anew,
and retiring the old ones. The master reads the file first and keeps the last settings that
validated; a worker whose file no longer does starts with those instead of failing to boot
(which would stop gunicorn), and the error is logged.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# gunicorn reads WEB_CONCURRENCY for its worker count and PORT for its bind by itself.

_made: list[str] = []  # the directory this master made, removed when it exits


def on_starting(server) -> None:
    """In the master, before any worker exists."""
    _read_config(server)
    named = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if named:
        folder = Path(named)
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.is_file() and entry.suffix == ".db":
                    entry.unlink()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        made = tempfile.mkdtemp(prefix="affiliate-metrics-")
        _made.append(made)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made


def on_reload(server) -> None:
    """SIGHUP, before the new workers are forked: they start with the file's settings if
    they validate, else with the ones the old workers run (logged, naming the key)."""
    _read_config(server)


def _read_config(server) -> None:
    from affiliate.config import ConfigError, load_settings
    from affiliate.config_reload import remember_good

    try:
        remember_good(load_settings())
    except ConfigError as exc:
        server.log.error("config not reloaded, the running config stays: %s", exc)


def post_worker_init(worker) -> None:
    """The worker has loaded the app (affiliate.long_lived.settle)."""
    from affiliate.long_lived import settle

    settle()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """A directory this master made goes with it."""
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)
