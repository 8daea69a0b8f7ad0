"""The XSS corpus (tests/xss_corpus.py: known payloads and 1 000+ seeded generated titles,
names, URLs and prices) goes in through a feed, as a source would send it, plus a few rows
stored with javascript:/data:/vbscript: URLs as no source check would let in; then every way
the service shows it is opened in Chromium: the demo page (the server-side macros), fragments
(directly and through embed.js on another origin), iframe pages, the JSON API and the
console. No page may hold an injected element, attribute or handler, a link or picture with
a javascript:, data: or vbscript: URL, or run a payload; text comes out exactly as stored.

Many payloads go on each page, so the whole corpus takes a few hundred page loads."""
from __future__ import annotations

import json

import pytest
import requests
from sqlmodel import select

from affiliate.admin import auth
from affiliate.models import Film, Offer, Platform, Product
from affiliate.refresh import run_refresh
from tests.admin_support import PASSWORD, USERNAME, admin_app, fast_password_hashing
from tests.xss_corpus import Corpus

FILMS = 30

# Every element, attribute and URL in the document (and the flag payloads set), judged.
FINDINGS = r"""() => {
  const found = [];
  const scheme = /^(javascript|data|vbscript):/;
  const urlAttributes = ["href", "src", "action", "formaction", "xlink:href", "srcset",
                         "poster", "data", "background", "ping"];
  for (const el of document.querySelectorAll("*")) {
    const where = el.outerHTML.slice(0, 120);
    if (el.localName === "xss-marker") found.push("element: " + where);
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name === "data-xss") found.push("attribute: " + where);
      if (name.startsWith("on")) found.push("handler " + name + ": " + where);
      const value = attr.value.replace(/[\u0000-\u0020\u007f-\u00a0]/g, "").toLowerCase();
      if (urlAttributes.includes(name) && scheme.test(value)) found.push("url: " + where);
    }
  }
  for (const s of document.scripts) {
    if (!s.src) found.push("inline script: " + s.outerHTML.slice(0, 120));
  }
  for (const a of document.querySelectorAll("a[href], area[href]")) {
    if (!["http:", "https:"].includes(a.protocol)) found.push("link: " + a.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll("[href='None'], [src='None']")) {
    found.push("a missing URL rendered: " + el.outerHTML.slice(0, 120));
  }
  if (window.__xss) found.push("a payload ran: window.__xss=" + window.__xss);
  return found;
}"""


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def database_url(tmp_path):
    """SQLite: what the browser shows does not depend on the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="module")
def corpus():
    corpus = Corpus(films=FILMS)
    assert corpus.size() >= 1000
    return corpus


@pytest.fixture
def service(make_settings, serve_app, tmp_path, corpus):
    """The service with the corpus loaded through a feed, a few rows stored with URLs no
    source check lets in, and an operator account."""
    feed = corpus.write(tmp_path / "corpus.json")
    app = admin_app(make_settings, providers={"xss": {"type": "feed", "url": str(feed)}})
    db = app.extensions["affiliate"].db
    (report,) = run_refresh(db, app.extensions["affiliate"].settings, "xss")
    assert report.stats.offers_added > 50 and report.stats.products_added > 80, report
    _store_hostile_urls(db)
    auth.create_user(db, USERNAME, PASSWORD)
    yield serve_app(app), db
    db.dispose()


def _store_hostile_urls(db) -> None:
    """Rows as an older release or a hand edit might have left them: every source checks its
    URLs, so these could only come from the database itself."""
    with db.session() as session:
        offers = session.exec(select(Offer).order_by(Offer.id)).all()
        for offer, url in zip(offers[::7], ["javascript:window.__xss=1", " JaVaScRiPt:window.__xss=1",
                                            "data:text/html,<xss-marker>", "VBScript:msgbox(1)"]):
            offer.link = url
            session.add(offer)
        products = session.exec(select(Product).order_by(Product.id)).all()
        for product, url in zip(products[::9], ["JAVASCRIPT:window.__xss=1", "vbscript:msgbox(1)",
                                                "\tjavascript:window.__xss=1", "Data:text/html,x"]):
            product.link = url
            product.image_url = "data:image/svg+xml,<svg onload=window.__xss=1>"
            session.add(product)
        for platform in session.exec(select(Platform).order_by(Platform.id).limit(5)).all():
            platform.logo_url = "javascript:window.__xss=1"
            session.add(platform)
        for film in session.exec(select(Film)).all():
            film.revision += 1
            session.add(film)


def stored_films(db) -> list[Film]:
    with db.session() as session:
        return list(session.exec(select(Film).order_by(Film.id)))


def check(page, what: str) -> None:
    found = page.evaluate(FINDINGS)
    assert found == [], f"{what}: {found[:5]}"


@pytest.fixture
def alerts(page):
    """Any alert, confirm or prompt a payload opened."""
    opened = []
    page.on("dialog", lambda dialog: (opened.append(dialog.message), dialog.dismiss()))
    return opened


def test_the_corpus_leaves_no_trace_in_any_widget_mode_the_api_or_the_console(
        page, alerts, service, host_page, corpus):
    url, db = service
    films = stored_films(db)
    assert len(films) == FILMS
    refs = [f"imdb:{film.imdb_id}" for film in films]

    # The demo page: every film's widgets, rendered by the macros a host app uses.
    page.goto(f"{url}/?region=US")
    check(page, "demo page")
    cited = page.locator("cite").evaluate_all("cs => cs.map(c => c.textContent)")
    assert set(cited) == {film.title for film in films}  # exactly as stored, escaped once
    text = page.locator("body").inner_text()
    assert "{{7*7}}" in text and "${7*7}" in text and "<script>window.__xss=1</script>" in text
    goes = page.locator("a[href*='/go/']").evaluate_all("as => as.map(a => a.href)")
    _check_redirects(set(goes))

    # embed.js on another origin: every film's two fragments injected into one page.
    markup = "\n".join(f'<div data-affiliate-widget="{widget}" data-film="{ref}" '
                       f'data-region="US"></div>'
                       for ref in refs for widget in ("how-to-watch", "related-products"))
    page.goto(host_page(markup + f'\n<script async src="{url}/affiliate/static/embed.js"></script>'))
    page.wait_for_function("n => document.querySelectorAll('[data-affiliate-widget] "
                           ".affiliate-widget').length === n", arg=2 * FILMS)
    check(page, "embed.js host page")

    for ref in refs:
        for widget in ("how-to-watch", "related-products"):
            for mode in ("", "/frame"):
                page.goto(f"{url}/widgets/{widget}/{ref}{mode}?region=US")
                check(page, f"{widget} {mode or 'fragment'} of {ref}")
        for resource in ("offers", "products"):
            api = f"{url}/api/v1/films/{ref}/{resource}?region=US"
            page.goto(api)
            check(page, f"{resource} JSON of {ref}")
            _check_json(json.loads(page.locator("body").inner_text()), films)

    # The console: the film list, every film's page, the feed's problems, the review queue.
    page.goto(f"{url}/admin/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Providers").wait_for()
    for path in ["/admin/providers", "/admin/providers/xss", "/admin/films", "/admin/review",
                 "/admin/clicks", *(f"/admin/films/{film.id}" for film in films)]:
        page.goto(url + path)
        check(page, path)
    # A stored link that is not http(s) is named, not linked.
    page.goto(f"{url}/admin/films/{films[0].id}")
    assert page.get_by_text("not an http(s) link").count() >= 1

    assert alerts == []


def _check_redirects(links: set[str]) -> None:
    """Every /go/ link leads to an http(s) URL, or nowhere (a stored link that is not one)."""
    assert len(links) > 40
    for link in links:
        response = requests.get(link, allow_redirects=False, timeout=10)
        if response.status_code == 404:
            assert "has no http(s) link" in response.text
            continue
        assert response.status_code == 302, link
        assert response.headers["Location"].lower().startswith(("http://", "https://")), link


def _check_json(answer: dict, films: list[Film]) -> None:
    """Titles as stored, and no URL but http(s) ones."""
    assert answer["film"]["title"] in {film.title for film in films}
    urls = [row[key] for group in answer.get("groups", []) for row in group["platforms"]
            for key in ("link", "logo_url")]
    urls += [card[key] for card in answer.get("products", []) for key in ("link", "image_url")]
    urls += [credit["url"] for credit in answer["attributions"]]
    for url in urls:
        assert url is None or url.lower().startswith(("http://", "https://")), url
