"""Every page and fragment the service renders is valid HTML, as the W3C Nu HTML checker
(vnu-jar from npm, run on Java) sees it.

The checker runs once over all the renders (starting the JVM takes seconds). Fragments are
checked inside a minimal valid document, as a host page would hold them.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from affiliate.change_lists import LISTS
from affiliate.i18n import available_locales
from affiliate.types import utcnow
from tests.test_changes import recent_changes

VNU_JAR = Path(__file__).resolve().parents[1] / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
LLV = "tmdb:451"
WIDGETS = ("how-to-watch", "related-products")
# US and GB have demo offers and products; the demo catalog has nothing for France.
REGIONS = {"US": "en_US", "GB": "en_GB", "FR": "fr_FR"}

WRAPPER = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Host page</title></head>
<body>
{fragment}
</body>
</html>
"""


def _renders() -> dict[str, tuple[str, int, bool]]:
    """name -> (path, expected status, is a whole document): each widget as a fragment and
    as an iframe page, in a region with offers and one without, in every language the
    widgets speak and in the compact layout; the demo page; the error fragments."""
    translated = available_locales()[1:]
    renders = {"demo-page": ("/?region=US", 200, True),
               "demo-page-gb": ("/?region=GB&locale=en_GB", 200, True),
               **{f"demo-page-{locale}": (f"/?region=US&locale={locale}", 200, True)
                  for locale in translated}}
    for widget in WIDGETS:
        path = f"/widgets/{widget}/{LLV}"
        for region, locale in REGIONS.items():
            renders[f"{widget}-{region}-{locale}"] = (
                f"{path}?region={region}&locale={locale}", 200, False)
            renders[f"{widget}-frame-{region}-{locale}"] = (
                f"{path}/frame?region={region}&locale={locale}", 200, True)
        for locale in translated:
            renders[f"{widget}-US-{locale}"] = (f"{path}?region=US&locale={locale}", 200, False)
            renders[f"{widget}-frame-US-{locale}"] = (
                f"{path}/frame?region=US&locale={locale}", 200, True)
        for region in ("US", "FR"):
            renders[f"{widget}-{region}-compact"] = (f"{path}?region={region}&layout=compact", 200, False)
            renders[f"{widget}-frame-{region}-compact"] = (
                f"{path}/frame?region={region}&layout=compact", 200, True)
    renders["demo-page-compact"] = ("/?region=US&layout=compact", 200, True)
    renders["error-unknown-film"] = ("/widgets/how-to-watch/imdb:tt9999999", 404, False)
    for name in LISTS:
        path = f"/widgets/changes/{name}"
        for region, locale in REGIONS.items():
            renders[f"changes-{name}-{region}"] = (f"{path}?region={region}&locale={locale}", 200, False)
            renders[f"changes-{name}-frame-{region}"] = (
                f"{path}/frame?region={region}&locale={locale}", 200, True)
        for locale in translated:
            renders[f"changes-{name}-US-{locale}"] = (f"{path}?region=US&locale={locale}", 200, False)
    renders["error-bad-kind"] = ("/widgets/changes/new?kind=cable", 400, False)
    renders["error-bad-layout"] = (f"/widgets/how-to-watch/{LLV}?layout=grid", 400, False)
    renders["error-bad-region"] = (f"/widgets/how-to-watch/{LLV}?region=XYZ", 400, False)
    return renders


def _vnu(files: list[Path]) -> list[dict]:
    """The checker's messages for these files (JSON on stderr; exit status ignored)."""
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--format", "json", "--exit-zero-always",
         *map(str, files)],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stderr)["messages"]


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: the markup does not depend on the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def vnu_available():
    if shutil.which("java") is None:
        pytest.skip("java is not installed (the Nu HTML checker needs Java 17): "
                    "apt-get install openjdk-17-jre-headless")
    if not VNU_JAR.is_file():
        pytest.skip(f"{VNU_JAR} is missing: run npm ci")


def test_every_render_is_valid_html(vnu_available, demo, settings, client, tmp_path):
    recent_changes(demo, settings, utcnow())  # the lists of changes have entries
    files = []
    for name, (path, status, whole) in _renders().items():
        response = client.get(path)
        assert response.status_code == status, (path, response.status_code)
        body = response.get_data(as_text=True)
        file = tmp_path / f"{name}.html"
        file.write_text(body if whole else WRAPPER.format(fragment=body), encoding="utf-8")
        files.append(file)

    messages = _vnu(files)

    errors = [m for m in messages if m["type"] in ("error", "non-document-error")]
    report = "\n".join(
        f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}: {m['message']}\n"
        f"    {m.get('extract', '').strip()}" for m in errors)
    assert not errors, f"the Nu HTML checker found {len(errors)} errors:\n{report}"
