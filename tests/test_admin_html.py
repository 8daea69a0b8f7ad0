"""Every console page is valid HTML, as the W3C Nu HTML checker (vnu-jar from npm, on Java)
sees it: logged out, logged in, with a film's products in every state, and its 4xx pages."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from affiliate import credential_store, curation
from affiliate.refresh import run_refresh
from affiliate.webhooks import endpoints
from tests.admin_support import admin_app, fast_password_hashing, log_in, post

VNU_JAR = Path(__file__).resolve().parents[1] / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
FILM = "imdb:tt0113627"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def vnu():
    if shutil.which("java") is None:
        pytest.skip("java is not installed (the Nu HTML checker needs Java 17): "
                    "apt-get install openjdk-17-jre-headless")
    if not VNU_JAR.is_file():
        pytest.skip(f"{VNU_JAR} is missing: run npm ci")

    def check(files: list[Path]) -> list[dict]:
        result = subprocess.run(["java", "-jar", str(VNU_JAR), "--format", "json",
                                 "--exit-zero-always", *map(str, files)],
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        return [m for m in json.loads(result.stderr)["messages"]
                if m["type"] in ("error", "non-document-error")]

    return check


def test_every_console_page_is_valid_html(vnu, make_settings, tmp_path, monkeypatch):
    monkeypatch.setenv(credential_store.KEY_VARIABLE, credential_store.generate_key())
    unset = admin_app(make_settings, secret_key=None).test_client()
    app = admin_app(make_settings)
    db = app.extensions["affiliate"].db
    run_refresh(db, app.extensions["affiliate"].settings, "demo")
    rows = curation.film_links(db, FILM)
    curation.set_status(db, [rows[0].id], "candidate")
    curation.set_status(db, [rows[1].id], "rejected")
    curation.set_hidden(db, [rows[2].id], True)
    endpoints.register(db, "http://127.0.0.1:9/hook", ["appeared", "price_drop"], regions=["US"],
                       allow_local=True)
    client = app.test_client()
    pages = {"setup": (unset, "/admin/providers", 503), "login": (client, "/admin/login", 200)}
    log_in(client, db)
    token_page = post(client, "/admin/tokens", {"name": "checker"}, page="/admin/tokens")
    assert token_page.status_code == 201
    for name, path, status in (
            ("providers", "/admin/providers", 200), ("provider", "/admin/providers/demo", 200),
            ("films", "/admin/films", 200), ("search", "/admin/films?q=nothing-matches", 200),
            ("film", f"/admin/films/{FILM}", 200), ("tokens", "/admin/tokens", 200),
            ("clicks", "/admin/clicks", 200), ("review", "/admin/review", 200),
            ("webhooks", "/admin/webhooks", 200), ("webhook", "/admin/webhooks/1", 200),
            ("sessions", "/admin/sessions", 200), ("password", "/admin/password", 200),
            ("review-none", "/admin/review?relation=merchandise&min_score=0.5", 200),
            ("not-found", "/admin/films/tmdb:999999", 404),
            ("bad-input", "/admin/clicks?since=nonsense", 400)):
        pages[name] = (client, path, status)

    files = []
    for name, (browser, path, status) in pages.items():
        response = browser.get(path)
        assert response.status_code == status, (name, response.status_code)
        files.append(tmp_path / f"{name}.html")
        files[-1].write_text(response.get_data(as_text=True), encoding="utf-8")
    files.append(tmp_path / "token-created.html")
    files[-1].write_text(token_page.get_data(as_text=True), encoding="utf-8")

    errors = vnu(files)

    report = "\n".join(f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}: {m['message']}\n"
                       f"    {m.get('extract', '').strip()}" for m in errors)
    assert not errors, f"the Nu HTML checker found {len(errors)} errors:\n{report}"
    db.dispose()
