"""Renders both widgets from the installed wheel alone (run outside the checkout), and checks
that the wheel carries the metadata an index shows (ready to publish)."""
import importlib.metadata
import pathlib
import tempfile

import affiliate
from affiliate.catalog import prepare
from affiliate.config import load_settings
from affiliate.scheduler import load_demo_if_empty

assert "site-packages" in affiliate.__file__, f"not the installed package: {affiliate.__file__}"

metadata = importlib.metadata.metadata("film-affiliate")
for field in ("Summary", "Author", "License-Expression", "License-File", "Keywords", "Project-URL",
              "Classifier", "Requires-Python", "Description-Content-Type"):
    assert metadata.get_all(field), f"the wheel's metadata has no {field}"
assert "# film-affiliate" in metadata.get_payload(), "the wheel's description is not the README"
distribution = importlib.metadata.distribution("film-affiliate")
assert any(f.name == "LICENSE" for f in distribution.files), "the wheel carries no LICENSE"

with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{pathlib.Path(tmp) / 'smoke.db'}"
    settings = load_settings(service={"database_url": url})
    app = affiliate.create_app(settings)
    state = app.extensions["affiliate"]
    prepare(state.db)
    assert load_demo_if_empty(state.db, settings), "the bundled demo catalog did not load"
    client = app.test_client()
    for path, expected in [
        ("/widgets/how-to-watch/imdb:tt0113627?region=US", "Vudu"),
        ("/widgets/related-products/imdb:tt0113627?region=US", "5-Film Collection"),
        ("/", "Leaving Las Vegas"),
        ("/affiliate/static/widgets.css", ".affiliate-widget"),
        ("/widgets/how-to-watch/imdb:tt0113627/frame?region=US&locale=es_ES", "Alquiler"),
        ("/affiliate/static/embed.js", "data-affiliate-widget"),
        ("/api/v1/openapi.json", "/api/v1/films/{film}/offers"),
    ]:
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, (path, response.status_code, body[:300])
        assert expected in body, (path, body[:300])
    state.views.close()  # write the counted views while the database still exists
    state.db.dispose()
print("wheel smoke test: both widgets render from the installed package, translated and embeddable")
