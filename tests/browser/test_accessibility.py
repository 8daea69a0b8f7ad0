"""No axe-core violations, in the light and the dark colour scheme: on the demo page, on the
iframe pages and on a host page that embeds both widgets with embed.js; each with a region
that has offers (US) and one that has none (FR)."""
from __future__ import annotations

import pytest

from affiliate.types import utcnow
from tests.browser.axe import describe, require_axe, violations
from tests.browser.test_widgets_browser import embed_markup, embedded, iframe_markup, widget_frame
from tests.test_changes import recent_changes

SCHEMES = ("light", "dark")
REGIONS = ("US", "FR")


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: what the browser shows does not depend on the database, and PostgreSQL
    is covered by the tests of what the pages hold."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(autouse=True)
def _axe():
    require_axe()


def check(page, urls: dict[str, str], ready=lambda page: None) -> list[str]:
    """axe's findings on each region's url in each colour scheme, one report per page."""
    reports = []
    for url in urls.values():
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            page.goto(url)
            ready(page)
            page.wait_for_load_state("networkidle")
            found = violations(page)
            if found:
                reports.append(f"--- {url} ({scheme}):\n{describe(found)}")
    return reports


@pytest.mark.parametrize("layout", ["list", "compact"])
def test_demo_page(page, demo_url, layout):
    reports = check(page, {region: f"{demo_url}/?region={region}&layout={layout}"
                           for region in REGIONS})
    assert not reports, "\n".join(reports)


@pytest.mark.parametrize("widget", ["how-to-watch", "related-products"])
def test_iframe_pages_on_a_host_page(page, demo_url, host_page, widget):
    """Checked where they are meant to be: inside an iframe of a page with its own <main>."""
    reports = check(page, {region: host_page(iframe_markup(demo_url, widget, region))
                           for region in REGIONS}, widget_frame)
    assert not reports, "\n".join(reports)


@pytest.mark.parametrize("layout", ["list", "compact"])
def test_host_page_with_embed_js(page, demo_url, host_page, layout):
    def filled(page):
        embedded(page, "how-to-watch")
        embedded(page, "related-products")

    markup = {region: embed_markup(demo_url, region).replace(
        f'data-region="{region}"', f'data-region="{region}" data-layout="{layout}"')
        for region in REGIONS}
    reports = check(page, {region: host_page(html) for region, html in markup.items()}, filled)
    assert not reports, "\n".join(reports)


@pytest.mark.parametrize("list_name", ["new", "leaving", "price-drops"])
def test_lists_of_changes_in_an_iframe_and_with_embed_js(page, app, demo, settings, serve_app,
                                                         host_page, list_name):
    """Each list with entries (US) and without (FR), as an iframe page and filled by embed.js."""
    recent_changes(demo, settings, utcnow())
    service = serve_app(app)
    framed = {region: host_page(
        f'<iframe src="{service}/widgets/changes/{list_name}/frame?region={region}" '
        f'title="Changes" style="width: 100%; border: 0"></iframe>\n'
        f'<script src="{service}/affiliate/static/frame-parent.js"></script>')
        for region in REGIONS}
    embedded_pages = {region: host_page(
        f'<div data-affiliate-widget="changes" data-list="{list_name}" data-region="{region}"></div>\n'
        f'<script async src="{service}/affiliate/static/embed.js"></script>')
        for region in REGIONS}
    reports = check(page, framed, widget_frame)
    reports += check(page, embedded_pages, lambda page: embedded(page, "changes"))
    assert not reports, "\n".join(reports)
