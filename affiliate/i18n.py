"""Widget text in the visitor's language, from the gettext catalogs in affiliate/translations.

Each render asks for its own locale's catalog, so a host app's language setup (or lack of
one) never decides what the widgets say. Only the .po files are kept: a language's catalog is
compiled in memory the first time it is asked for, so there is no compiled .mo to forget to
rebuild after editing a translation, and the wheel ships exactly what translators edit.

A locale without a catalog gets the English text (the msgids); numbers, prices and dates
are still formatted by Babel for the locale itself.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"  # the language the msgids are written in


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; it is translated where shown."""
    return message


@lru_cache(maxsize=1)
def available_locales() -> tuple[str, ...]:
    """The languages the widgets speak: English, then every shipped catalog, by code."""
    shipped = sorted(path.parent.parent.name
                     for path in TRANSLATIONS_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *(code for code in shipped if code != SOURCE_LANGUAGE))


@lru_cache(maxsize=256)
def text_language(locale: str) -> str:
    """The catalog a locale reads: its own (pt_BR), else its language's (es_MX -> es), else
    English."""
    parsed = Locale.parse(locale)
    for candidate in (str(parsed), parsed.language):
        if candidate in available_locales():
            return candidate
    return SOURCE_LANGUAGE


def translations(locale: str) -> NullTranslations:
    """gettext/pgettext for `locale`'s text language; English text needs no catalog."""
    language = text_language(locale)
    return NullTranslations() if language == SOURCE_LANGUAGE else _compiled(language)


@lru_cache(maxsize=None)
def _compiled(language: str) -> Translations:
    """Fuzzy entries are left out, as `pybabel compile` would, so an unchecked translation
    shows the English text instead."""
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)
