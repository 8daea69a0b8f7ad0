"""SIGHUP re-reads the config in `affiliate serve`, `affiliate scheduler` and gunicorn workers;
a file that no longer validates keeps the running config and says why."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from affiliate import create_app, config_reload
from affiliate.config import load_settings
from affiliate.config_reload import ConfigWatch, reload_on_sighup
from tests.test_metrics import _free_port

GOOD = '[widgets]\nnew_days = 7\n'
BAD = '[widgets]\nnew_days = -1\n'


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_a_sighup_with_an_invalid_config_keeps_the_running_one(tmp_path, caplog):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    watch = ConfigWatch(load_settings(path), check_every=3600)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        assert reload_on_sighup(watch)
        path.write_text(BAD)
        os.kill(os.getpid(), signal.SIGHUP)
        with caplog.at_level(logging.ERROR, "affiliate.config_reload"):
            assert watch.poll() is None
        assert watch.settings.widgets.new_days == 7
        assert "config not reloaded, the running config stays" in caplog.text
        assert "widgets.new_days" in caplog.text

        path.write_text('[widgets]\nnew_days = 3\n')
        os.kill(os.getpid(), signal.SIGHUP)
        assert watch.poll().widgets.new_days == 3
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_new_worker_starts_with_the_masters_last_good_config(tmp_path, monkeypatch, caplog,
                                                               database_url):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("AFFILIATE_CONFIG", str(path))
    monkeypatch.setenv("AFFILIATE_SERVICE__DATABASE_URL", database_url)
    monkeypatch.setattr(config_reload, "_last_good", None)
    config_reload.remember_good(load_settings())  # what the gunicorn master does
    path.write_text(BAD)
    with caplog.at_level(logging.ERROR, "affiliate.config_reload"):
        app = create_app()
    assert app.extensions["affiliate"].settings.widgets.new_days == 7
    assert "widgets.new_days" in caplog.text
    app.extensions["affiliate"].db.dispose()


def _wait_for(condition, what: str, seconds: float = 60):
    """A bounded wait for a process to get somewhere (not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting: {what}")


def test_gunicorn_answers_sighup_with_workers_on_the_new_config_or_the_running_one(
        tmp_path, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the process test")
    port = _free_port()
    path = tmp_path / "config.toml"
    path.write_text('[metrics]\nenabled = true\nallow_addresses = ["127.0.0.1"]\n')
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "AFFILIATE_SERVICE__DATABASE_URL": database_url,
           "AFFILIATE_CONFIG": str(path)}
    subprocess.run([os.path.join(bin_dir, "affiliate"), "db", "upgrade"], env=env, cwd=tmp_path,
                   check=True, capture_output=True)
    log_file = tmp_path / "gunicorn.log"
    gunicorn = subprocess.Popen(
        [os.path.join(bin_dir, "gunicorn"), "-c", "python:affiliate.gunicorn_conf", "--workers",
         "2", "--bind", f"127.0.0.1:{port}", "--error-logfile", str(log_file),
         "affiliate.app:create_app()"], env=env, cwd=tmp_path)

    def status(path: str) -> int | None:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def log() -> str:
        return log_file.read_text() if log_file.exists() else ""

    try:
        _wait_for(lambda: status("/readyz") == 200, "gunicorn ready")
        assert status("/metrics") == 200
        path.write_text(BAD)
        gunicorn.send_signal(signal.SIGHUP)
        _wait_for(lambda: log().count("Booting worker") >= 4, "new workers after SIGHUP")
        assert "config not reloaded, the running config stays" in log()
        _wait_for(lambda: status("/readyz") == 200, "the new workers serving")
        assert gunicorn.poll() is None  # the master lives on
        assert status("/metrics") == 200  # on the running config

        path.write_text('[metrics]\nenabled = true\nallow_addresses = ["10.0.0.0/8"]\n')
        gunicorn.send_signal(signal.SIGHUP)
        _wait_for(lambda: status("/metrics") == 403, "workers on the new config")
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
