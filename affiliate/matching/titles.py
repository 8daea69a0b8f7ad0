"""Titles and names brought to a comparable form, and what a product title says beyond the
film's title: edition words to ignore, years, sequel numbers, signs of another kind of work.

Products dress a film's title in their own words ("Dune (Collector's Edition) [Blu-ray]",
"Leaving Las Vegas: Music From The Original Motion Picture Soundtrack"); those words are
removed before titles are compared, except where they belong to the film's own title ("The
Score", "Up").
"""
from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

# Words that describe a product rather than name a work. A bracket or a ": ..." tail made
# only of these (and the small words among them) is dropped before titles are compared.
_EDITION_WORDS = frozenset("""
    blu ray bluray dvd 4k uhd ultra hd digital copy combo pack edition editions collectors
    special anniversary limited deluxe widescreen fullscreen full screen directors cut final
    extended unrated theatrical remastered restored steelbook region free pal ntsc criterion
    collection disc discs motion picture original soundtrack soundtracks music from score
    ost novel movie film tie mti media paperback hardcover vinyl lp cd audio expanded import
    version inspired by the a an and of in with on plus includes reissue mass market classic
    classics penguin vintage signature series book books complete nc rated
""".split())
# Studio lines of editions whose names sound like box sets: "Speed (Five Star Collection)".
_EDITION_LINES_RE = re.compile(r"\b(five star collection|signature collection|legacy series|vista series|"
                               r"diamond edition|platinum edition|cinema classics)\b")
# Words that describe an edition wherever they stand in a title: "Alien 40th Anniversary".
_EDITION_INLINE_RE = re.compile(r"\b(\d+(st|nd|rd|th) anniversary|anniversary|collectors|special|limited|"
                                r"deluxe|remastered|restored|unrated|theatrical|extended|directors cut|"
                                r"editions?)\b")
# A bracket saying the book is the film's tie-in: "Arrival (Stories of Your Life MTI)".
_TIE_IN_RE = re.compile(r"\b(mti|movie tie in|media tie in|tie in)\b")
_NUMBERS = {str(number): word for number, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_ORDINAL_RE = re.compile(r"^\d+(st|nd|rd|th)$")
_ROMAN_RE = re.compile(r"^(ii|iii|iv|v|vi|vii|viii|ix|x)$")
_BRACKET_RE = re.compile(r"[(\[{]([^()\[\]{}]*)[)\]}]")
_TAIL_SEPARATOR_RE = re.compile(r"\s*(?::|\s[-–—]\s)\s*")
# Format words removed wherever they stand (after folding).
_FORMAT_RE = re.compile(r"\b(blu ray|bluray|dvd|4k ultra hd|4k|ultra hd|uhd|digital hd|digital copy|"
                        r"digital|steelbook|widescreen|fullscreen|combo pack|combo|single disc|"
                        r"(\d+|two|three|four) discs?)\b")
# A bracket naming the series a book belongs to: "(Dune Chronicles, Book 1)".
_SERIES_RE = re.compile(r"\b(book|volume|vol|novel) \d+\b|\b(chronicles|series|saga|novel|classics)$")
_YEAR_RE = re.compile(r"(?<!\d)(19[0-9]{2}|20[0-9]{2})(?!\d)")
_SEQUEL_RE = re.compile(
    r"^(?:(?:part|chapter|episode|vol|volume)\s+)?"
    r"(\d{1,2}|ii|iii|iv|v|vi|vii|viii|ix|x|two|three|four|five|six|seven|eight|nine|ten|"
    r"second|third|fourth|fifth)\b(?!\s*(?:st|nd|rd|th|discs?|pack|films?|movies?)\b)")
_SEQUEL_WORDS_RE = re.compile(r"\b(the sequel|returns|resurrection|revenge of|the beginning)\b")
_OTHER_WORK_RE = re.compile(
    r"\b(remake|season \w+|(first|second|third|fourth|fifth|final|complete) season|seasons|"
    r"the complete series|complete series|tv series|"
    r"miniseries|mini series|episodes|the animated series)\b")
_SOUNDTRACK_RE = re.compile(r"\b(soundtracks?|motion picture|original scores?|film scores?|ost|"
                            r"music from|music inspired by)\b")
_COMPANION_RE = re.compile(
    r"\b(the art of|art and soul of|the making of|making of|official|guide|screenplay|"
    r"shooting script|script|cookbook|coloring book|colouring book|calendar|poster|sticker|"
    r"trivia|companion|behind the scenes|unofficial|funko|pop vinyl|figure|t shirt|mug|screenplays|"
    r"little golden book|storybook|novelization|activity book|sticker book|read along)\b")
_COLLECTION_RE = re.compile(
    r"\b(collection|box set|boxset|trilogy|quadrilogy|anthology|double feature|triple feature|"
    r"quadruple feature|(\d+|two|three|four|five|six|seven|eight|nine|ten) (film|movie|pack))\b")
_NOT_A_COLLECTION_RE = re.compile(r"\bcriterion collection\b")
_PROTECT = "\u0000"
# Letters Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe",
                          "ß": "ss", "ı": "i"})
# A bracket or tail ending in one of these names an edition, whatever precedes it:
# "(Director's Definitive Edition)", "(Universal Legacy Series)".
_EDITION_ENDINGS = frozenset("edition editions cut version series classics remaster remastered".split())


def fold(text: str) -> str:
    """Lower case without accents, apostrophes or punctuation: "Ocean's Eleven" -> "oceans
    eleven", "Adaptation." -> "adaptation", "Stanisław" -> "stanislaw"."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"['’‘`]", "", text.replace("&", " and "))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


def clean_title(title: str, keep: str = "") -> str:
    """The product title without edition words, folded; `keep` (the film's title) is left
    whole wherever it occurs, so "Up (Two-Disc Blu-ray/DVD Combo)" keeps "up"."""
    kept = fold(keep)
    text = _BRACKET_RE.sub(lambda m: " " if _is_edition_text(m.group(1), kept) else f" {m.group(1)} ",
                           title)
    parts = _TAIL_SEPARATOR_RE.split(text)
    parts = [parts[0]] + [part for part in parts[1:] if not _is_edition_text(part, kept)]
    folded = fold(" ".join(parts))
    if kept:
        folded = re.sub(rf"\b{re.escape(kept)}\b", _PROTECT, folded)
    for pattern in (_EDITION_LINES_RE, _FORMAT_RE, _EDITION_INLINE_RE):
        folded = pattern.sub(" ", folded)
    return " ".join(folded.replace(_PROTECT, kept).split())


def similarity(cleaned: str, film_title: str) -> float:
    """How alike a cleaned product title and a film title are, 0 to 100 (rapidfuzz's ratio:
    whole strings, so a title that merely contains the film's scores low). Numbers count
    the same spelt out: "Ocean's 11" is "Ocean's Eleven"."""
    if not cleaned or not film_title.strip():
        return 0.0
    return fuzz.ratio(_spelt(cleaned), _spelt(fold(film_title)))


def remainder(cleaned: str, film_title: str) -> str:
    """What a cleaned product title says beyond the film's title; all of it when it does not
    contain the film's title."""
    kept = fold(film_title)
    if not kept or not re.search(rf"\b{re.escape(kept)}\b", cleaned):
        return cleaned
    return " ".join(re.sub(rf"\b{re.escape(kept)}\b", " ", cleaned, count=1).split())


def years_in(text: str) -> list[int]:
    return [int(year) for year in _YEAR_RE.findall(text)]


def sequel_mark(rest: str) -> str | None:
    """A sequel number or word right after the film's title: "ii" in "Psycho II", "part two"
    in "Dune: Part Two", "2" in "Heat 2"."""
    match = _SEQUEL_RE.match(rest)
    if match:
        return match.group(0)
    words = _SEQUEL_WORDS_RE.search(rest)
    return words.group(0) if words else None


def numbers_in(text: str) -> set[str]:
    """Numbers, number words and roman numerals, which tell "Ocean's Eleven" from "Ocean's
    Twelve"."""
    return {word for word in _spelt(text).split()
            if word.isdigit() and len(word) < 4 or word in _NUMBERS.values() or _ROMAN_RE.match(word)}


def other_work_mark(folded_title: str) -> str | None:
    """Words saying the product is a remake or a TV series rather than the film."""
    match = _OTHER_WORK_RE.search(folded_title)
    return match.group(0) if match else None


def says_soundtrack(folded_title: str) -> bool:
    return bool(_SOUNDTRACK_RE.search(folded_title))


def says_companion(folded_title: str) -> bool:
    """A book or thing about the film rather than its source: an art book, a screenplay, a
    calendar, a figure."""
    return bool(_COMPANION_RE.search(folded_title))


def says_collection(folded_text: str) -> bool:
    text = _EDITION_LINES_RE.sub(" ", _NOT_A_COLLECTION_RE.sub(" ", folded_text))
    return bool(_COLLECTION_RE.search(text))


def same_person(one: str, other: str) -> bool:
    """Names as sources spell them: accents and initials' dots ("J. Lee Thompson"), word
    order, a missing middle name ("Charles R. Jackson" / "Charles Jackson") and small spelling
    slips still match."""
    a, b = fold(one), fold(other)
    if not a or not b:
        return False
    if a == b or fuzz.token_sort_ratio(a, b) >= 92:
        return True
    short, long = sorted((a.split(), b.split()), key=len)
    return len(short) >= 2 and short[0] == long[0] and short[-1] == long[-1]


def _spelt(folded: str) -> str:
    return " ".join(_NUMBERS.get(word, word) for word in folded.split())


def _is_edition_text(text: str, kept: str) -> bool:
    folded = fold(text)
    if not folded or (kept and folded == kept):
        return False
    if _SERIES_RE.search(folded) or _TIE_IN_RE.search(folded) or _EDITION_LINES_RE.search(folded):
        return True
    words = folded.split()
    if words[-1] in _EDITION_ENDINGS:
        return True
    return all(word in _EDITION_WORDS or _ORDINAL_RE.match(word) or word.isdigit()
               for word in words)
