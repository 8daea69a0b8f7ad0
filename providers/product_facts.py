"""What a product says about itself, read from a raw Amazon item or iTunes album: the facts
matching a search hit to a film needs (who made it, when, in what binding, what it contains).

Shapes, as the sources document them:

- Amazon Creators API items (the "ItemInfo" resource page; the same names as PA-API 5 in
  lowerCamelCase, as in Amazon's `creatorsapi_python_sdk` models): `itemInfo.title
  .displayValue`; `itemInfo.byLineInfo.contributors[]` of `{name, role, roleType, locale}`,
  where `role` is the localized label ("Actor", "Darsteller", "Author") and `roleType` the
  locale-free kind ("actor", "director", "author"...), plus `brand` and `manufacturer`
  (`{displayValue}`); `itemInfo.classifications.binding` / `.productGroup`;
  `itemInfo.technicalInfo.formats.displayValues` ("4K", "Box set"...);
  `itemInfo.productInfo.releaseDate` and `itemInfo.contentInfo.publicationDate`
  (`"2013-03-01T00:00:00.000Z"`, `"2009-07-01T00:00:01Z"`). Book contributors come as
  "Last, First" ("Glasgow, Kathleen", in a PA-API 5 answer recorded by Open Library's
  tests). These resources arrive only when asked for: `itemInfo.byLineInfo`,
  `itemInfo.contentInfo` and `itemInfo.productInfo` must be in the request's `resources`.
- iTunes Search albums (`entity=album`): `collectionName`, `artistName` (one string, several
  artists joined by "&" or ","; "Various Artists" for compilations), `releaseDate`
  (`"1995-10-31T08:00:00Z"`), `primaryGenreName` ("Soundtrack"), `collectionType` ("Album").
  Album searches give no track list.

Everything here is a pure function of one dict: a field of the wrong type reads as absent.
"""
from __future__ import annotations

import re
from typing import Any

from providers.base import Person, ProductFacts, ProductFormat

# Bindings (lower case) as Amazon US names them; "Blu-ray" also covers 4K discs, which say so
# in the title or the technical formats. Any other binding of a shippable thing is merchandise.
_BINDING_FORMATS = {
    "blu-ray": ProductFormat.BLU_RAY,
    "dvd": ProductFormat.DVD,
    "4k": ProductFormat.UHD_BLU_RAY,
    "blu-ray 4k": ProductFormat.UHD_BLU_RAY,
    "4k ultra hd": ProductFormat.UHD_BLU_RAY,
    "audio cd": ProductFormat.SOUNDTRACK_CD,
    "vinyl": ProductFormat.VINYL,
    "mp3 music": ProductFormat.DIGITAL_ALBUM,
    "paperback": ProductFormat.BOOK,
    "hardcover": ProductFormat.BOOK,
    "kindle edition": ProductFormat.BOOK,
    "mass market paperback": ProductFormat.BOOK,
    "audible audiobook": ProductFormat.BOOK,
    "board book": ProductFormat.BOOK,
}
_UHD_RE = re.compile(r"\b(4k|uhd|ultra hd)\b", re.IGNORECASE)
_YEAR_RE = re.compile(r"^(\d{4})-\d{2}-\d{2}")
# A box set's title lists its films between brackets or as the whole title, " / " apart.
_BRACKETED_RE = re.compile(r"[(\[]([^()\[\]]*\s/\s[^()\[\]]*)[)\]]")
_CONTENTS_SEPARATOR = re.compile(r"\s+/\s+")
# "(Two-Disc Blu-ray / DVD + Digital Copy)" lists formats, not films.
_FORMAT_ONLY = re.compile(r"^(?:[\s+&-]|\b(?:blu-?ray|dvd|digital|copy|hd|4k|uhd|ultra|combo|disc|two|"
                          r"three|\d+)\b)*$", re.IGNORECASE)
_ITUNES_ARTISTS_RE = re.compile(r"\s*(?:&|,)\s*")
_COMPILATION_ARTISTS = {"various artists", "various"}
_SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}




def amazon_item_facts(item: dict[str, Any]) -> ProductFacts:
    """The facts of one Creators API item (a getItems or searchItems entry)."""
    title = amazon_title(item)
    binding = amazon_binding(item)
    formats = amazon_formats(item)
    credited = amazon_people(item)
    people = tuple(person for person in credited if person.name.casefold() not in _COMPILATION_ARTISTS)
    return ProductFacts(
        title=title,
        people=people,
        year=amazon_release_year(item),
        binding=binding,
        format=amazon_format(binding, formats, title),
        formats=formats,
        contents=listed_contents(title),
        category=_display_value(_get(item, "itemInfo", "classifications", "productGroup")),
        compilation=len(people) < len(credited),
    )


def itunes_album_facts(album: dict[str, Any]) -> ProductFacts:
    """The facts of one iTunes Search album (`wrapperType` "collection")."""
    title = _text(album.get("collectionName"))
    artists = itunes_artists(album)
    return ProductFacts(
        title=title,
        people=tuple(Person(name, "artist") for name in artists),
        year=_year(album.get("releaseDate")),
        format=ProductFormat.DIGITAL_ALBUM if album.get("wrapperType") == "collection" else None,
        category=_text(album.get("primaryGenreName")) or None,
        compilation=_text(album.get("artistName")).casefold() in _COMPILATION_ARTISTS,
    )


def amazon_title(item: dict[str, Any]) -> str:
    return _display_value(_get(item, "itemInfo", "title")) or ""


def amazon_binding(item: dict[str, Any]) -> str | None:
    return _display_value(_get(item, "itemInfo", "classifications", "binding"))


def amazon_formats(item: dict[str, Any]) -> tuple[str, ...]:
    values = _get(item, "itemInfo", "technicalInfo", "formats", "displayValues")
    return tuple(_text(value) for value in values if _text(value)) if isinstance(values, list) else ()


def amazon_people(item: dict[str, Any]) -> tuple[Person, ...]:
    """Contributors with their locale-free role; "Last, First" names turned round."""
    contributors = _get(item, "itemInfo", "byLineInfo", "contributors")
    people = []
    for contributor in contributors if isinstance(contributors, list) else ():
        if not isinstance(contributor, dict):
            continue
        name = _text(contributor.get("name"))
        role = _text(contributor.get("roleType")) or _text(contributor.get("role"))
        if name:
            people.append(Person(_first_name_first(name), role.casefold() or "contributor"))
    return tuple(dict.fromkeys(people))


def amazon_release_year(item: dict[str, Any]) -> int | None:
    """The year this product came out: its release date, else its publication date."""
    info = _get(item, "itemInfo")
    for path in (("productInfo", "releaseDate"), ("contentInfo", "publicationDate")):
        year = _year(_display_value(_get(info, *path)))
        if year is not None:
            return year
    return None


def amazon_format(binding: str | None, formats: tuple[str, ...], title: str) -> ProductFormat | None:
    """The product's format from its binding; None when Amazon gives no binding."""
    if not binding:
        return None
    product_format = _BINDING_FORMATS.get(binding.casefold(), ProductFormat.MERCHANDISE)
    if product_format is ProductFormat.BLU_RAY and _UHD_RE.search(" ".join((title, *formats))):
        return ProductFormat.UHD_BLU_RAY
    return product_format


def listed_contents(title: str) -> tuple[str, ...]:
    """The films a box set's title lists: "Nicolas Cage: 5-Film Collection (Leaving Las Vegas /
    Raising Arizona / ...)" or "Alien / Aliens / Alien 3"; () when it lists none."""
    for listed in [*reversed(_BRACKETED_RE.findall(title)), _BRACKETED_RE.sub(" ", title)]:
        parts = [part.strip() for part in _CONTENTS_SEPARATOR.split(listed)]
        films = [part for part in parts if part and not _FORMAT_ONLY.match(part)]
        if len(films) > 1:
            return tuple(films)
    return ()


def itunes_artists(album: dict[str, Any]) -> tuple[str, ...]:
    """Each artist of the album's one `artistName` string; none for a compilation."""
    name = _text(album.get("artistName"))
    if name.casefold() in _COMPILATION_ARTISTS:
        return ()
    return tuple(part for part in _ITUNES_ARTISTS_RE.split(name) if part)


def _first_name_first(name: str) -> str:
    """"Herbert, Frank" -> "Frank Herbert"; "Robert Downey, Jr." and names with several
    commas stay as given."""
    parts = [part.strip() for part in name.split(",")]
    if len(parts) == 2 and all(parts) and parts[1].casefold().rstrip(".") not in _SUFFIXES:
        return f"{parts[1]} {parts[0]}"
    return name


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _display_value(attribute: Any) -> str | None:
    value = _text(attribute.get("displayValue")) if isinstance(attribute, dict) else ""
    return value or None


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _year(value: Any) -> int | None:
    match = _YEAR_RE.match(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None
