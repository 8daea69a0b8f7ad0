"""The XSS corpus: known payloads and seeded generated ones, as titles, names, URLs and prices,
and a feed catalog (the feed provider's JSON) that carries them all into the database.

Every payload that could become markup names the marker element `xss-marker` or the marker
attribute `data-xss`, or sets `window.__xss`; a page that escaped everything has none of
them, whatever got through."""
from __future__ import annotations

import json
import random
from pathlib import Path

# Markup and template payloads, for any text field.
TEXTS = [
    "<script>window.__xss=1</script>",
    "<xss-marker></xss-marker>",
    '"><xss-marker data-xss="1">',
    "'><xss-marker data-xss='1'>",
    '<img src=x onerror="window.__xss=1" data-xss>',
    "<svg onload=window.__xss=1 data-xss>",
    '<iframe src="javascript:window.__xss=1" data-xss></iframe>',
    '<a href="javascript:window.__xss=1" data-xss>x</a>',
    '" onmouseover="window.__xss=1" data-xss="',
    "' onfocus='window.__xss=1' autofocus data-xss='",
    "</title><xss-marker>", "</textarea><xss-marker>", "</style><xss-marker>",
    "</script><script>window.__xss=1</script>", "<!--<xss-marker>-->", "]]><xss-marker>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1 data-xss>",
    "<details open ontoggle=window.__xss=1 data-xss>",
    "&lt;xss-marker data-xss&gt;", "&#60;xss-marker data-xss&#62;", "\\u003cxss-marker\\u003e",
    "{{7*7}}", "${7*7}", "#{7*7}", "<%= 7*7 %>", "{% raw %}{{7*7}}{% endraw %}",
    "{{ config }}", "{{ ''.__class__ }}",
    "line\u2028separator", "para\u2029graph", "\u202eevil", "nul\x00byte?", "tab\tand\nnewline",
    "javascript:window.__xss=1", "JaVaScRiPt:window.__xss=1", "data:text/html,<xss-marker>",
    "vbscript:msgbox(1)",
]

# URLs no source may hand a visitor: every case of javascript:, data: and vbscript:, hidden
# behind whitespace, control characters or entities, and scheme-relative ones.
BAD_URLS = [
    "javascript:window.__xss=1", "JAVASCRIPT:window.__xss=1", "JaVaScRiPt:window.__xss=1",
    " javascript:window.__xss=1", "\tjavascript:window.__xss=1", "\x01javascript:window.__xss=1",
    "java\tscript:window.__xss=1", "java\nscript:window.__xss=1", "jav&#x09;ascript:window.__xss=1",
    "javascript&colon;window.__xss=1", "javascript://%0Awindow.__xss=1",
    "data:text/html,<xss-marker data-xss>", "DATA:text/html;base64,PHhzcy1tYXJrZXI+",
    "Data:image/svg+xml,<svg onload=window.__xss=1>", "vbscript:msgbox(1)", "VBScript:msgbox(1)",
    "VBSCRIPT:msgbox(1)", "//evil.example/x", "/go/../admin", "evil.example/x", "file:///etc/passwd",
    "ftp://evil.example/x", "https:evil.example", "http://", "https://\u2028evil.example/",
]

# http(s) URLs that are allowed but must stay inside their attribute.
ODD_GOOD_URLS = [
    'https://shop.example/x?a="><xss-marker data-xss>',
    "https://shop.example/x?a='><xss-marker data-xss>",
    "https://shop.example/x?q=<script>window.__xss=1</script>",
    "https://shop.example/x#\" onerror=\"window.__xss=1",
    "HTTPS://SHOP.EXAMPLE/UPPER", "https://shop.example/{{7*7}}",
    "https://shop.example/javascript:window.__xss=1", "https://shop.example/x?u=\u2028",
]

PRICES = ["3.99", "0", "0.001", "-1", "1e9", "1E-3", "NaN", "Infinity", "-Infinity", "0x10",
          "1,99", "99999999999999999999", "<script>window.__xss=1</script>", "{{7*7}}",
          "3.99 USD<xss-marker>", "3.99\u2028", " 12.50 ", "12.50 usd", "12.50 XSS", "1_000"]

_FRAGMENTS = [
    "<xss-marker>", "</xss-marker>", '"', "'", "`", "<", ">", "&", "&amp;", "&lt;", "=",
    " onerror=window.__xss=1 ", " data-xss ", "<img src=x onerror=window.__xss=1 data-xss>",
    "<script>window.__xss=1</script>", "{{7*7}}", "{%", "%}", "\u2028", "\u2029", "\u00a0",
    "\u200b", "\ufeff", "</", "/>", "<!--", "-->", "javascript:", "DATA:", "VbScript:",
    "\\", "\\x3c", "%3Cxss-marker%3E", "é", "中文", "😀", "\u202e",
]
_WORDS = ["Leaving", "Las", "Vegas", "Blu-ray", "Edition", "Soundtrack", "Collector's",
          "Box", "Set", "Store", "Films", "Video", "4K", "DVD", "Deluxe"]


def generated(rng: random.Random, count: int) -> list[str]:
    """Texts mixing ordinary words with markup, template and Unicode fragments."""
    texts = []
    for _ in range(count):
        parts = [rng.choice(_WORDS if rng.random() < 0.4 else _FRAGMENTS)
                 for _ in range(rng.randint(2, 7))]
        texts.append("".join(parts).strip() or "<xss-marker>")
    return texts


def generated_urls(rng: random.Random, count: int) -> list[str]:
    """Half http(s) URLs with hostile paths and queries, half hostile schemes."""
    urls = []
    for _ in range(count):
        if rng.random() < 0.5:
            scheme = rng.choice(["https", "http", "HTTPS"])
            url = (f"{scheme}://shop{rng.randint(1, 9)}.example/{rng.choice(_FRAGMENTS)}"
                   f"?q={rng.choice(_FRAGMENTS)}")
            urls.append("".join(char for char in url if not char.isspace() and char.isprintable()))
        else:
            urls.append(rng.choice(BAD_URLS).replace("window.__xss=1", f"window.__xss={rng.randint(1, 9)}"))
    return urls


def generated_prices(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(PRICES) if rng.random() < 0.5 else f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
            for _ in range(count)]


class Corpus:
    """Every string a catalog built from it carries, by kind, known payloads first."""

    def __init__(self, seed: int = 14, films: int = 30):
        rng = random.Random(seed)
        self.films = films
        self.titles = TEXTS + generated(rng, films * 12)
        self.names = TEXTS[::-1] + generated(rng, films * 12)
        self.urls = BAD_URLS + ODD_GOOD_URLS + generated_urls(rng, films * 12)
        self.good_urls = ODD_GOOD_URLS + [url for url in generated_urls(rng, films * 12)
                                          if url.lower().startswith("http")]
        self.prices = PRICES + generated_prices(rng, films * 10)
        self.good_prices = [f"{rng.randint(0, 99)}.{rng.randint(0, 99):02d}" for _ in range(50)]

    def size(self) -> int:
        return len(self.titles) + len(self.names) + len(self.urls) + len(self.prices)

    def catalog(self) -> dict:
        """The feed: `films` films, each with offers on three platforms and eight products,
        every field drawn in turn from the corpus (so every payload is used)."""
        titles, names, urls = _cycle(self.titles), _cycle(self.names), _cycle(self.urls)
        good, prices = _cycle(self.good_urls), _cycle(self.prices)
        good_prices = _cycle(self.good_prices)
        platforms = [{"slug": f"xss-{n}", "name": next(names), "logo_url": next(urls),
                      "homepage": next(good)} for n in range(self.films)]
        # A platform whose logo fails the feed's check is dropped with its offers: list each
        # twice, once with a good logo, so every film has offers to show.
        platforms += [{"slug": f"xss-good-{n}", "name": next(names), "logo_url": next(good)}
                      for n in range(self.films)]
        films, offers, products = [], [], []
        for n in range(self.films):
            ref = f"imdb:tt{9_100_000 + n}"
            films.append({"title": next(titles), "imdb_id": ref[5:], "year": 1990 + n % 30,
                          "director": next(names),
                          "people": [{"name": next(names), "role": "actor"}]})
            for k, kind in enumerate(("rent", "buy", "subscription")):
                for slug in (f"xss-{(n + k) % self.films}", f"xss-good-{(n + k) % self.films}"):
                    offers.append({"film": ref, "platform": slug, "region": "US", "kind": kind,
                                   "quality": "HD", "currency": "USD",
                                   "price": next(prices if k == 0 else good_prices),
                                   "link": next(urls if k == 0 else good)})
            for p in range(8):
                products.append({
                    "id": f"xss-{n}-{p}", "merchant": next(names), "title": next(titles),
                    "format": "blu-ray" if p % 2 else "book", "region": "US",
                    "link": next(urls if p < 3 else good),
                    "image_link": next(urls if p < 5 else good),
                    "price": next(prices if p < 5 else good_prices), "currency": "USD",
                    "films": [{"film": ref, "relation": "edition", "position": p}]})
        return {"platforms": platforms, "films": films, "offers": offers, "products": products}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.catalog()), encoding="utf-8")
        return path


def _cycle(values: list[str]):
    while True:
        yield from values
