"""Browser fixtures: Debian's Chromium driven by Playwright, apps served on real sockets.

Playwright's own browsers are never downloaded: the tests launch /usr/bin/chromium and skip,
saying how to install it, when it or the playwright package is missing.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
# The tests chdir into a temporary directory, so artifacts are placed by the checkout's path.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-dev-shm-usage",  # /dev/shm is tiny in containers
    "--disable-gpu",
]


def pytest_addoption(parser):
    parser.addoption("--docs-screenshots", action="store_true",
                     help="also write the docs' screenshots to docs/screenshots/ "
                          "(tests/browser/test_screenshots.py)")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile per test (no cookies or cache carried between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def serve_app():
    """`serve_app(app) -> base_url`: the WSGI app on 127.0.0.1 at a free port, in a thread,
    shut down when the test ends. Each call is another origin (another port)."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def demo_app(app, demo):
    """The standalone service with the bundled demo catalog loaded, as `affiliate serve`
    leaves it."""
    return app


@pytest.fixture
def demo_url(serve_app, demo_app):
    """The demo service running on a real socket."""
    return serve_app(demo_app)


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (test-artifacts/ at the top of the checkout, kept between runs)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def screenshot(artifacts):
    """`screenshot(page, name) -> path`: a full-page PNG in test-artifacts/."""

    def take(page, name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


HOST_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


@pytest.fixture
def host_page(serve_app):
    """`host_page(body, title=...) -> url`: a plain HTML page holding `body`, served by a
    static server of its own, so it is another origin than any app `serve_app` runs."""

    def serve(body: str, title: str = "Leaving Las Vegas (1995): a film site") -> str:
        page = HOST_PAGE.format(title=title, body=body).encode()

        def static_site(environ, start_response):
            if environ["PATH_INFO"] != "/":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found"]
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page]

        return serve_app(static_site) + "/"

    return serve
