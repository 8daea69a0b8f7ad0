"""How the widgets and the console look at 375 and 1280 px, light and dark, checked in the
browser: in every embed mode (server-side macros on the demo page, embed.js on another
site, the iframe) and both layouts, nothing scrolls sideways or sticks out of its box, no
word is broken in the middle, and an image that fails to load shows the platform's tile or
the format's placeholder instead of a broken-image icon. On the console's film page the
product links' prices and actions stay on the screen.

Every page is saved to test-artifacts/. The pictures in the docs are regenerated with

    pytest tests/browser/test_screenshots.py --docs-screenshots

which also writes the docs' set (both widgets in both layouts, and the console's product
links, at each width and scheme) to docs/screenshots/, reduced to 256 colours.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlmodel import select

from affiliate.models import Platform, Product
from tests.admin_support import PASSWORD, USERNAME, admin_app, fast_password_hashing
from tests.browser.test_widgets_browser import embed_markup, embedded, iframe_markup, widget_frame
from tests.standin import Answer, StandIn

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = (375, 1280)
SCHEMES = ("light", "dark")
LAYOUTS = ("list", "compact")
# Port 9 (discard) refuses at once: the request fails without leaving the machine.
BROKEN = "http://127.0.0.1:9/missing.png"
# A drawn cover: a picture that loads, and must stay. Served over http by a stand-in: the
# widgets show only http(s) pictures (a data: URL is never rendered, affiliate.links).
COVER_SVG = ("<svg xmlns='http://www.w3.org/2000/svg' width='160' height='200'><rect width='160' "
             "height='200' fill='#1f3a5f'/><rect x='12' y='120' width='136' height='10' fill='#e8c170'/>"
             "<rect x='12' y='138' width='96' height='8' fill='#e8c170'/></svg>")

# In the page (or the frame): what is wrong with the widgets' layout, as sentences.
CHECK = """() => {
  const problems = [];
  const name = (el) => el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
    ? "." + String(el.className).trim().split(/\\s+/).join(".") : "");
  for (const widget of document.querySelectorAll(".affiliate-widget")) {
    const box = widget.getBoundingClientRect();
    for (const el of widget.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (!r.width && !r.height) continue;
      if (r.right > box.right + 1 || r.left < box.left - 1)
        problems.push(`${name(el)} sticks out of its widget (${Math.round(r.left)}-${Math.round(r.right)}`
                      + ` in ${Math.round(box.left)}-${Math.round(box.right)})`);
      if (el.clientWidth && el.scrollWidth > el.clientWidth + 1)
        problems.push(`${name(el)} holds ${el.scrollWidth}px in ${el.clientWidth}px`);
    }
    for (const inner of widget.querySelectorAll(".aff-tile-text, .aff-placeholder")) {
      const tile = inner.parentElement.getBoundingClientRect(), r = inner.getBoundingClientRect();
      if (r.left < tile.left - 1 || r.right > tile.right + 1)
        problems.push(`"${inner.textContent}" is wider than its tile`);
    }
    for (const img of widget.querySelectorAll("img"))
      if (img.complete && img.naturalWidth === 0) problems.push(`broken image ${img.src}`);
    // A word (split where a line may break anyway: after a hyphen or a slash) on one line.
    const walker = document.createTreeWalker(widget, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s\\-\\/]+[\\-\\/]?/g)) {
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set(Array.from(range.getClientRects(), (rect) => Math.round(rect.top)));
        if (tops.size > 1) problems.push(`"${match[0]}" is broken across lines`);
      }
    }
  }
  const overflow = document.documentElement.scrollWidth - window.innerWidth;
  if (overflow > 0) problems.push(`the page scrolls sideways by ${overflow}px`);
  return problems;
}"""


def pytest_generate_tests(metafunc):
    if "layout" in metafunc.fixturenames:
        metafunc.parametrize("layout", LAYOUTS)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only, as the other browser tests."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def with_pictures(db, cover: str) -> None:
    """Apple TV's logo and the DVD's picture fail to load; the Blu-ray's (`cover`) loads."""
    with db.session() as session:
        session.exec(select(Platform).where(Platform.slug == "apple-tv")).one().logo_url = BROKEN
        for product in session.exec(select(Product)).all():
            if product.title.endswith("[DVD]"):
                product.image_url = BROKEN
            elif product.title.endswith("[Blu-ray]"):
                product.image_url = cover
        session.commit()


@pytest.fixture
def cover():
    server = StandIn()
    server.route("GET", "/cover.svg", Answer(200, COVER_SVG, {"Content-Type": "image/svg+xml"}))
    server.start()
    yield f"{server.url}/cover.svg"
    server.stop()


@pytest.fixture
def service(serve_app, demo_app, cover):
    with_pictures(demo_app.extensions["affiliate"].db, cover)
    return serve_app(demo_app)


def show(page, url: str, width: int, scheme: str, ready=lambda page: None) -> None:
    """`url` at `width` in `scheme`, every lazy image loaded (or failed): the window is made
    as tall as the page."""
    page.set_viewport_size({"width": width, "height": 800})
    page.emulate_media(color_scheme=scheme)
    page.goto(url)
    ready(page)
    page.wait_for_load_state("networkidle")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": max(800, height)})
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(100)  # the failed images' error events


def assert_fallbacks(scope) -> None:
    """The failed images were replaced by what they stood for; the cover stayed."""
    logos = scope.locator(".aff-how-to-watch .aff-tile", has_text="A")
    apple = scope.locator(".aff-how-to-watch .aff-tile:not(:has(img))").filter(
        has=scope.locator(".aff-tile-text"))
    assert apple.count() >= logos.count() > 0
    assert scope.locator(f'.aff-how-to-watch img[src="{BROKEN}"]').count() == 0
    assert scope.locator(f'.aff-related-products img[src="{BROKEN}"]').count() == 0
    dvd = scope.locator(".aff-card", has_text="[DVD]").first
    assert dvd.locator("svg.aff-placeholder").is_visible()
    cover = scope.locator(".aff-card", has_text="[Blu-ray]").first.locator("img")
    assert cover.evaluate("img => img.complete && img.naturalWidth > 0")


def check(scope, where: str) -> None:
    problems = scope.evaluate(CHECK)
    assert not problems, f"{where}:\n" + "\n".join(problems[:20])


def save(page_or_element, name: str, artifacts: Path, for_docs: bool) -> None:
    png = page_or_element.screenshot(**({"full_page": True} if hasattr(page_or_element, "goto") else {}))
    (artifacts / f"{name}.png").write_bytes(png)
    if for_docs:
        from PIL import Image

        DOCS.mkdir(parents=True, exist_ok=True)
        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(256)
        image.save(DOCS / f"{name}.png", optimize=True)


@pytest.fixture
def for_docs(request) -> bool:
    return request.config.getoption("--docs-screenshots")


def test_server_side_widgets(page, service, artifacts, for_docs, layout):
    for width in WIDTHS:
        for scheme in SCHEMES:
            show(page, f"{service}/?region=US&layout={layout}", width, scheme)
            where = f"demo page, {layout}, {width}px, {scheme}"
            check(page, where)
            assert_fallbacks(page)
            save(page.locator("article.aff-demo-film").first, f"widgets-{layout}-{width}-{scheme}",
                 artifacts, for_docs)


def test_embed_js_widgets(page, service, host_page, artifacts, for_docs, layout):
    url = host_page(embed_markup(service).replace('data-region="US"',
                                                  f'data-region="US" data-layout="{layout}"'))

    def filled(page):
        for widget in ("how-to-watch", "related-products"):
            embedded(page, widget).locator(f".aff-layout-{layout}").wait_for()

    for width in WIDTHS:
        for scheme in SCHEMES:
            show(page, url, width, scheme, filled)
            check(page, f"embed.js, {layout}, {width}px, {scheme}")
            assert_fallbacks(page)
            save(page, f"embed-{layout}-{width}-{scheme}", artifacts, False)


@pytest.mark.parametrize("widget", ["how-to-watch", "related-products"])
def test_iframe_widgets(page, service, host_page, artifacts, layout, widget):
    url = host_page(iframe_markup(service, widget).replace("?region=US", f"?region=US&layout={layout}"))
    for width in WIDTHS:
        for scheme in SCHEMES:
            show(page, url, width, scheme, widget_frame)
            frame = widget_frame(page)
            check(page, f"iframe host page, {width}px")
            check(frame, f"iframe {widget}, {layout}, {width}px, {scheme}")
            assert frame.locator(f'img[src="{BROKEN}"]').count() == 0
            save(page, f"iframe-{widget}-{layout}-{width}-{scheme}", artifacts, False)


def test_embed_js_warns_of_an_unknown_layout_and_shows_the_list(page, service, host_page):
    warnings = []
    page.on("console", lambda message: message.type == "warning" and warnings.append(message.text))
    page.goto(host_page(embed_markup(service).replace('data-region="US"',
                                                      'data-region="US" data-layout="grid"')))
    assert embedded(page, "how-to-watch").locator(".aff-layout-list").count() == 1
    assert any('data-layout="grid" is not one of list, compact' in text for text in warnings), warnings


# --- the console ------------------------------------------------------------------------------

@pytest.fixture
def console(make_settings, serve_app, monkeypatch, cover):
    """The console with the demo catalog, the pictures above and an operator account."""
    from affiliate.admin import auth
    from affiliate.refresh import run_refresh

    fast_password_hashing(monkeypatch)
    app = admin_app(make_settings, providers={"demo": {"type": "feed", "url": "builtin:demo"}})
    db = app.extensions["affiliate"].db
    assert [r.status for r in run_refresh(db, app.extensions["affiliate"].settings, "demo")] == ["complete"]
    with_pictures(db, cover)
    auth.create_user(db, USERNAME, PASSWORD)
    yield serve_app(app)
    db.dispose()


def test_console_film_page(page, console, artifacts, for_docs):
    page.goto(f"{console}/admin/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Providers").wait_for()
    for width in WIDTHS:
        for scheme in SCHEMES:
            show(page, f"{console}/admin/films/imdb:tt0113627", width, scheme)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
            links = page.locator("#products table").first
            assert "$12.99" in links.inner_text() and " USD" not in links.inner_text()
            # Every action button and price is on the screen, not off to the right.
            right = page.evaluate("""() => Math.max(...Array.from(
                document.querySelectorAll('td.actions button, td.price'),
                (el) => el.getBoundingClientRect().right))""")
            assert right <= width, f"console at {width}px: an action or price ends at {right}px"
            # A thumbnail per product: its format's drawn tile, under the picture where there
            # is one (the console's CSP refuses the data: cover, so it falls back too).
            assert links.locator(".thumb svg").count() == links.locator("tbody tr").count() >= 6
            save(page, f"console-{width}-{scheme}", artifacts, False)
            save(page.locator("#products"), f"console-products-{width}-{scheme}", artifacts, for_docs)
