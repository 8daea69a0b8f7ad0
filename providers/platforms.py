"""The platforms every source's offers are mapped to, by canonical slug.

Adapters translate their own platform ids to these slugs (and slugify names they do not
know), so TMDB's "Amazon Video", Watchmode's "Amazon" and a feed's "amazon-prime-video" land
on one platform; the catalog adds these to every database with their display names.
"""
from __future__ import annotations

import re
from typing import NamedTuple


class CanonicalPlatform(NamedTuple):
    name: str
    homepage: str


CANONICAL: dict[str, CanonicalPlatform] = {
    "netflix": CanonicalPlatform("Netflix", "https://www.netflix.com"),
    "amazon-prime-video": CanonicalPlatform("Amazon Prime Video", "https://www.primevideo.com"),
    "apple-tv": CanonicalPlatform("Apple TV", "https://tv.apple.com"),
    "google-play-movies": CanonicalPlatform("Google Play Movies", "https://play.google.com/store/movies"),
    "vudu": CanonicalPlatform("Vudu", "https://www.vudu.com"),
    "max": CanonicalPlatform("Max", "https://www.max.com"),
    "hulu": CanonicalPlatform("Hulu", "https://www.hulu.com"),
    "disney-plus": CanonicalPlatform("Disney+", "https://www.disneyplus.com"),
    "paramount-plus": CanonicalPlatform("Paramount+", "https://www.paramountplus.com"),
    "peacock": CanonicalPlatform("Peacock", "https://www.peacocktv.com"),
    "mubi": CanonicalPlatform("MUBI", "https://mubi.com"),
    "criterion-channel": CanonicalPlatform("The Criterion Channel", "https://www.criterionchannel.com"),
    "tubi": CanonicalPlatform("Tubi", "https://tubitv.com"),
    "pluto-tv": CanonicalPlatform("Pluto TV", "https://pluto.tv"),
    "youtube": CanonicalPlatform("YouTube", "https://www.youtube.com/movies"),
    "microsoft-store": CanonicalPlatform("Microsoft Store", "https://www.microsoft.com/store/movies-and-tv"),
    "plex": CanonicalPlatform("Plex", "https://watch.plex.tv"),
    "kanopy": CanonicalPlatform("Kanopy", "https://www.kanopy.com"),
    "hoopla": CanonicalPlatform("hoopla", "https://www.hoopladigital.com"),
    "starz": CanonicalPlatform("Starz", "https://www.starz.com"),
    "mgm-plus": CanonicalPlatform("MGM+", "https://www.mgmplus.com"),
    "amc-plus": CanonicalPlatform("AMC+", "https://www.amcplus.com"),
    "britbox": CanonicalPlatform("BritBox", "https://www.britbox.com"),
    "now": CanonicalPlatform("NOW", "https://www.nowtv.com"),
    "sky-store": CanonicalPlatform("Sky Store", "https://www.skystore.com"),
    "bfi-player": CanonicalPlatform("BFI Player", "https://player.bfi.org.uk"),
    "rakuten-tv": CanonicalPlatform("Rakuten TV", "https://www.rakuten.tv"),
    "chili": CanonicalPlatform("CHILI", "https://www.chili.com"),
}


def slugify(name: str) -> str:
    """The slug for a platform no table knows: "Fandango at Home" -> "fandango-at-home";
    a plus is spelt out as the canonical slugs do ("MGM+" -> "mgm-plus"). Empty if the
    name has no letters or digits."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold().replace("+", " plus ")).strip("-")
