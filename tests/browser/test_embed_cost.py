"""What an embed costs its host page, measured in Chromium with the demo film: the bytes of
every answer the service sends (gzipped here at level 6, as a compressing proxy or CDN
would send them: the service itself leaves compression to the front), the layout shift of
a host page that embeds both widgets with embed.js and reserves their space, and whether
any request holds up the page's first render.

A size budget, not a timing: fragment + widgets.css + embed.js stay within 15 KB gzipped
for each widget and layout. The figures are written to test-artifacts/embed-cost.md and
recorded in bench/RESULTS.md.
"""
from __future__ import annotations

import gzip
from urllib.parse import unquote, urlsplit

import pytest

from tests.browser.test_widgets_browser import FILM, embedded, iframe_markup, widget_frame

BUDGET = 15 * 1024
WIDGETS = ("how-to-watch", "related-products")
LAYOUTS = ("list", "compact")
# The host page keeps room for each widget before it arrives (its own rule on the data-*
# attributes it wrote), at least as tall as the demo film's widgets at 375 px.
RESERVED = {("how-to-watch", "list"): "44rem", ("how-to-watch", "compact"): "22rem",
            ("related-products", "list"): "70rem", ("related-products", "compact"): "62rem"}
# Sums every layout shift not caused by input, from before the page's first script.
WATCH_SHIFTS = """
window.layoutShift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.layoutShift += entry.value;
  }
}).observe({type: "layout-shift", buffered: true});
"""


@pytest.fixture
def database_url(tmp_path):
    """SQLite only, as the other browser tests."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def host_markup(service: str, layout: str) -> str:
    rules = "\n".join(f'[data-affiliate-widget="{widget}"][data-layout="{shape}"] '
                      f"{{ min-height: {height}; }}"
                      for (widget, shape), height in RESERVED.items())
    widgets = "\n".join(f'<div data-affiliate-widget="{widget}" data-film="{FILM}" '
                        f'data-region="US" data-layout="{layout}"></div>' for widget in WIDGETS)
    return (f"<style>{rules}</style>\n<p>The film's synopsis, above the widgets.</p>\n{widgets}\n"
            f"<p>The film's reviews, below the widgets: any shift of the widgets would move "
            f"them.</p>\n<script async src=\"{service}/affiliate/static/embed.js\"></script>")


def sizes_of(page, service: str) -> dict[str, tuple[int, int]]:
    """Every answer from the service while the page loads: name -> (bytes, gzipped bytes)."""
    found: dict[str, tuple[int, int]] = {}

    def record(response):
        if response.url.startswith(service) and response.status == 200:
            body = response.body()
            path = unquote(urlsplit(response.url).path)
            name = path.rsplit("/", 1)[-1] if "/static/" in path else path
            found[name] = (len(body), len(gzip.compress(body, compresslevel=6)))

    page.on("response", record)
    return found


def test_embed_js_costs_little_shifts_nothing_and_blocks_no_render(page, demo_url, host_page,
                                                                  artifacts):
    report = ["| mode | layout | answer | bytes | gzip |", "| --- | --- | --- | ---: | ---: |"]
    heights = {}
    for layout in LAYOUTS:
        for width in (375, 1280):
            context_page = page.context.new_page()
            context_page.add_init_script(WATCH_SHIFTS)
            context_page.set_viewport_size({"width": width, "height": 800})
            sizes = sizes_of(context_page, demo_url)
            context_page.goto(host_page(host_markup(demo_url, layout)))
            for widget in WIDGETS:
                embedded(context_page, widget)
            context_page.wait_for_load_state("networkidle")
            context_page.wait_for_timeout(300)  # let any late shift be reported

            shift = context_page.evaluate("window.layoutShift")
            assert shift == 0, f"embed.js, {layout}, {width}px: cumulative layout shift {shift}"
            blocking = context_page.evaluate("""() => performance.getEntriesByType("resource")
                .filter((entry) => entry.renderBlockingStatus === "blocking")
                .map((entry) => entry.name)""")
            assert blocking == [], f"render-blocking requests: {blocking}"
            for widget in WIDGETS:
                height = context_page.locator(f'[data-affiliate-widget="{widget}"] .affiliate-widget')
                heights[widget, layout, width] = round(height.bounding_box()["height"])
            context_page.close()

        for widget in WIDGETS:
            fragment = sizes[f"/widgets/{widget}/{FILM}"]
            total = fragment[1] + sizes["widgets.css"][1] + sizes["embed.js"][1]
            assert total <= BUDGET, f"{widget}, {layout}: fragment + CSS + embed.js = {total} B gzip"
            report.append(f"| embed.js | {layout} | fragment {widget} | {fragment[0]} | {fragment[1]} |")
    for name in ("embed.js", "widgets.css", "beacon.js", "fallback.js"):
        report.append(f"| embed.js | both | {name} | {sizes[name][0]} | {sizes[name][1]} |")
    report += ["", "| widget | layout | height at 375 px | at 1280 px |", "| --- | --- | ---: | ---: |"]
    report += [f"| {widget} | {layout} | {heights[widget, layout, 375]} | {heights[widget, layout, 1280]} |"
               for widget in WIDGETS for layout in LAYOUTS]
    (artifacts / "embed-cost.md").write_text("\n".join(report) + "\n")
    # The compact How to Watch is the sidebar's strip: well under half the list's height.
    for width in (375, 1280):
        assert heights["how-to-watch", "compact", width] < heights["how-to-watch", "list", width] / 2


@pytest.mark.parametrize("widget", WIDGETS)
def test_the_iframe_page_costs_little(page, demo_url, host_page, artifacts, widget):
    sizes = sizes_of(page, demo_url)
    page.goto(host_page(iframe_markup(demo_url, widget)))
    widget_frame(page)
    page.wait_for_load_state("networkidle")
    frame_page = sizes[f"/widgets/{widget}/{FILM}/frame"]
    total = sum(gzipped for _, gzipped in sizes.values())
    assert total <= BUDGET, f"iframe {widget}: {total} B gzip in all: {sizes}"
    lines = [f"| iframe | list | {name} | {raw} | {gzipped} |" for name, (raw, gzipped) in sizes.items()]
    (artifacts / f"embed-cost-iframe-{widget}.md").write_text("\n".join(lines) + "\n")
    assert frame_page[1] > 0
