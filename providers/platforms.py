"""The platforms every source's offers are mapped to, by canonical slug.

Adapters translate their own platform ids to these slugs (and slugify names they do not
know), so TMDB's "Amazon Video", Watchmode's "Amazon" and a feed's "amazon-prime-video" land
on one platform; the catalog adds these to every database with their display names.

`colour` is the platform's brand colour, a plain hex: the widgets draw a platform without a
logo as a tile of that colour with its name or initials, so no trademarked logo file is
shipped. None where we know no colour (the tile stays neutral).
"""
from __future__ import annotations

import re
from typing import NamedTuple


class CanonicalPlatform(NamedTuple):
    name: str
    homepage: str
    colour: str | None = None


CANONICAL: dict[str, CanonicalPlatform] = {
    "netflix": CanonicalPlatform("Netflix", "https://www.netflix.com", "#E50914"),
    "amazon-prime-video": CanonicalPlatform("Amazon Prime Video", "https://www.primevideo.com", "#00A8E1"),
    "apple-tv": CanonicalPlatform("Apple TV", "https://tv.apple.com", "#000000"),
    "google-play-movies": CanonicalPlatform("Google Play Movies",
                                            "https://play.google.com/store/movies", "#01875F"),
    "vudu": CanonicalPlatform("Vudu", "https://www.vudu.com", "#3399FF"),
    "max": CanonicalPlatform("Max", "https://www.max.com", "#002BE7"),
    "hulu": CanonicalPlatform("Hulu", "https://www.hulu.com", "#1CE783"),
    "disney-plus": CanonicalPlatform("Disney+", "https://www.disneyplus.com", "#113CCF"),
    "paramount-plus": CanonicalPlatform("Paramount+", "https://www.paramountplus.com", "#0064FF"),
    "peacock": CanonicalPlatform("Peacock", "https://www.peacocktv.com", "#000000"),
    "mubi": CanonicalPlatform("MUBI", "https://mubi.com", "#001489"),
    "criterion-channel": CanonicalPlatform("The Criterion Channel",
                                           "https://www.criterionchannel.com", "#1A1A1A"),
    "tubi": CanonicalPlatform("Tubi", "https://tubitv.com", "#7408FF"),
    "pluto-tv": CanonicalPlatform("Pluto TV", "https://pluto.tv", "#FFF200"),
    "youtube": CanonicalPlatform("YouTube", "https://www.youtube.com/movies", "#FF0000"),
    "microsoft-store": CanonicalPlatform("Microsoft Store",
                                         "https://www.microsoft.com/store/movies-and-tv", "#0078D4"),
    "plex": CanonicalPlatform("Plex", "https://watch.plex.tv", "#E5A00D"),
    "kanopy": CanonicalPlatform("Kanopy", "https://www.kanopy.com"),
    "hoopla": CanonicalPlatform("hoopla", "https://www.hoopladigital.com"),
    "starz": CanonicalPlatform("Starz", "https://www.starz.com", "#000000"),
    "mgm-plus": CanonicalPlatform("MGM+", "https://www.mgmplus.com"),
    "amc-plus": CanonicalPlatform("AMC+", "https://www.amcplus.com"),
    "britbox": CanonicalPlatform("BritBox", "https://www.britbox.com"),
    "now": CanonicalPlatform("NOW", "https://www.nowtv.com"),
    "sky-store": CanonicalPlatform("Sky Store", "https://www.skystore.com", "#0072C9"),
    "bfi-player": CanonicalPlatform("BFI Player", "https://player.bfi.org.uk", "#000000"),
    "rakuten-tv": CanonicalPlatform("Rakuten TV", "https://www.rakuten.tv", "#BF0000"),
    "chili": CanonicalPlatform("CHILI", "https://www.chili.com"),
}


def slugify(name: str) -> str:
    """The slug for a platform no table knows: "Fandango at Home" -> "fandango-at-home";
    a plus is spelt out as the canonical slugs do ("MGM+" -> "mgm-plus"). Empty if the
    name has no letters or digits."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold().replace("+", " plus ")).strip("-")
