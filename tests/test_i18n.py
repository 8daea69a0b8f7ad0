"""Widget text in the visitor's language: the catalogs are complete and correct, each render
speaks its own locale's language, and prices and dates follow the locale even where no
catalog exists."""
from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from affiliate.i18n import TRANSLATIONS_DIR, available_locales, text_language, translations
from affiliate.widgets import how_to_watch, related_products
from tests.test_widgets import Page

ROOT = Path(__file__).parent.parent
LLV = "imdb:tt0113627"
SHIPPED = [code for code in available_locales() if code != "en"]


def code_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every message the code marks, found as `pybabel extract` finds them."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, str(ROOT / "babel.cfg"))
    return {(context, message) for _, _, message, _, context
            in extract_from_dir(str(ROOT), method_map, options_map)}


def catalog(language: str):
    with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language, abort_invalid=True)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_english_spanish_and_german_are_shipped():
    assert available_locales() == ("en", "de", "es")


@pytest.mark.parametrize("locale, language", [
    ("es_ES", "es"), ("es_MX", "es"), ("es", "es"), ("de_AT", "de"), ("en_GB", "en"),
    ("fr_FR", "en"), ("pt_BR", "en"),
])
def test_a_locale_reads_its_languages_catalog_else_english(locale, language):
    assert text_language(locale) == language


@pytest.mark.parametrize("language", SHIPPED)
def test_every_message_in_the_code_is_translated_in_each_catalog(language):
    messages = code_messages()
    assert len(messages) > 40  # the extraction found the widgets' text
    found = catalog(language)
    in_catalog = {(message.context, message.id) for message in found if message.id}
    assert sorted(messages - in_catalog, key=str) == [], "missing: run pybabel update (README)"
    assert sorted(in_catalog - messages, key=str) == [], "no longer in the code: run pybabel update"
    for message in found:
        if not message.id:
            continue
        assert message.string and not message.fuzzy, message.id
        assert placeholders(message.string) == placeholders(message.id), message.id
    assert not found.fuzzy and not list(found.check())


def test_spanish_widgets_speak_spanish_with_spanish_numbers(client, demo):
    html = client.get(f"/widgets/how-to-watch/{LLV}?region=US&locale=es_ES").text
    text = Page(html).text
    assert 'lang="es"' in html
    assert "Dónde ver Leaving Las Vegas (1995)" in text
    assert ">Alquiler</h3>" in html and ">Compra</h3>" in html
    assert "Región Estados Unidos Reino Unido Cambiar" in text
    assert "SD 1,99\xa0US$" in html
    assert "Alquilar Leaving Las Vegas en Vudu" in [link.get("aria-label") for link in Page(html).links]
    assert "Podemos recibir una comisión" in text
    assert "Precios a fecha de " in text

    products = Page(client.get(f"/widgets/related-products/{LLV}?region=US&locale=es_ES").text).text
    assert "Productos relacionados con Leaving Las Vegas (1995)" in products
    assert "Merchandising" in products and "Libro" in products and "12,99 US$" in products
    # A programme's own statement stays in its own words.
    assert "As an Amazon Associate I earn from qualifying purchases." in products


@pytest.mark.parametrize("locale, region, text", [
    ("en_GB", "US", "US$1.99"), ("en_US", "US", "$1.99"), ("es_ES", "US", "1,99\xa0US$"),
    ("en_GB", "GB", "£2.49"), ("es_ES", "GB", "2,49\xa0GBP"), ("de_DE", "GB", "2,49\xa0£"),
])
def test_babel_formats_prices_for_the_locale(demo, settings, locale, region, text):
    view = how_to_watch(demo, LLV, region, locale, settings)
    cheapest = view.groups[0].rows[0].lowest_price
    assert cheapest.text == text


def test_a_locale_without_a_catalog_reads_english_with_its_own_numbers_and_dates(demo, settings):
    view = how_to_watch(demo, LLV, "US", "fr_FR", settings)
    assert (view.locale, view.language) == ("fr_FR", "en")
    assert view.labels.heading == "How to watch" and view.groups[0].heading == "Rent"
    assert view.groups[0].rows[0].lowest_price.text == "1,99\xa0$US"
    assert view.prices_as_of.startswith("Prices as of ") and " à " not in view.prices_as_of
    assert view.region_name == "United States"  # a word of the English text
    assert how_to_watch(demo, LLV, "FR", "fr_FR", settings).empty_message == (
        "Leaving Las Vegas isn't available to stream, rent or buy in France yet.")


def test_the_kept_prices_as_of_text_is_per_locale(demo, settings):
    """The same moment is written once per locale: German after English is German."""
    english = how_to_watch(demo, LLV, "US", "en_US", settings)
    german = how_to_watch(demo, LLV, "US", "de_DE", settings)
    assert english.checked_at == german.checked_at
    assert german.prices_as_of != english.prices_as_of
    assert german.prices_as_of.endswith(english.checked_at.strftime("%d.%m.%Y, %H:%M UTC"))
    assert how_to_watch(demo, LLV, "US", "en_US", settings).prices_as_of == english.prices_as_of


def test_each_render_uses_its_own_language_whatever_came_before(demo, settings):
    spanish = related_products(demo, LLV, "US", "es_ES", settings)
    english = related_products(demo, LLV, "US", "en_US", settings)
    german = related_products(demo, LLV, "US", "de_DE", settings)
    assert [v.labels.heading for v in (spanish, english, german)] == [
        "Productos relacionados con", "Related products for", "Passende Produkte zu"]
    assert [v.cards[0].action for v in (spanish, english, german)] == ["Comprar", "Buy", "Kaufen"]


def test_the_default_disclosure_is_translated_and_an_operators_own_is_not(demo, make_settings):
    own = make_settings(widgets={"disclosure": "Links may earn us money."})
    assert how_to_watch(demo, LLV, "US", "de_DE", make_settings()).disclosure.startswith(
        "Wenn du über diese Links kaufst")
    assert how_to_watch(demo, LLV, "US", "de_DE", own).disclosure == "Links may earn us money."


def test_the_empty_messages_read_naturally_in_each_language(demo, settings):
    def empty(locale):
        return how_to_watch(demo, LLV, "GB", locale, settings).empty_message, related_products(
            demo, "imdb:tt0037884", "GB", locale, settings).empty_message

    assert empty("en_GB")[1] == "There are no related products for The Lost Weekend in the United Kingdom yet."
    assert empty("es_ES")[1] == "Todavía no hay productos relacionados con The Lost Weekend en Reino Unido."
    assert empty("de_DE")[1] == (
        "Für The Lost Weekend gibt es noch keine passenden Produkte (Region: Vereinigtes Königreich).")


def test_fuzzy_translations_are_left_out_as_pybabel_compile_would(tmp_path, monkeypatch):
    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Language: es\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Region"\nmsgstr "Región"\n\n#, fuzzy\nmsgid "New"\nmsgstr "Nuevo?"\n',
                  encoding="utf-8")
    monkeypatch.setattr("affiliate.i18n.TRANSLATIONS_DIR", tmp_path)
    from affiliate import i18n

    i18n.available_locales.cache_clear()
    i18n._compiled.cache_clear()
    try:
        t = translations("es_ES")
        assert (t.gettext("Region"), t.gettext("New")) == ("Región", "New")
    finally:
        i18n.available_locales.cache_clear()
        i18n._compiled.cache_clear()
