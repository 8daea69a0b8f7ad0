"""Atom feeds (RFC 4287) of availability changes: one per film, one per filtered list.

Each entry is one offer event (affiliate.change_events): its id is the event's UUID, so a
feed reader that has shown it never shows it again whatever the feed's URL or host, and its
`updated` is when the change happened, not when the feed was read. Written by feedgen.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Callable, NamedTuple

from babel.dates import format_skeleton
from feedgen.feed import FeedGenerator

from affiliate.change_events import (
    EVENT_NAMESPACE,
    LEAVING_SOON,
    LEFT,
    PRICE_DROP,
    PRICE_RISE,
    ChangeEvent,
)
from affiliate.change_lists import event_text, kind_texts
from affiliate.clicks import is_direct
from affiliate.film_pages import film_page
from affiliate.i18n import text_language, translations
from affiliate.links import tag_link
from affiliate.widgets import price_text
from providers.regions import region_name
from providers.terms import Attribution

# An empty feed was last changed at no particular time; this one never moves.
_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
GENERATOR = "film-affiliate"


class FeedContext(NamedTuple):
    """What a feed needs besides its events."""

    title: str  # already in the feed's language
    key: str  # names the feed's content for its id: "changes?region=US&kind=stream"
    self_url: str  # where it was asked for
    locale: str
    film_url: str | None  # the host site's film page template
    link_tags: list  # the operator's affiliate tags (settings.link_tags)
    go_url: Callable[[str], str]  # "o<offer id>" -> the absolute /go/ link
    attributions: tuple[Attribution, ...]
    disclosure: str


def feed_id(key: str) -> str:
    return uuid.uuid5(EVENT_NAMESPACE, f"feed/{key}").urn


def atom(events: list[ChangeEvent], context: FeedContext) -> bytes:
    """The feed document, entries newest first as given."""
    t = translations(context.locale)
    feed = FeedGenerator()
    feed.id(feed_id(context.key))
    feed.title(context.title)
    feed.updated(max((event.at for event in events), default=_NEVER))
    feed.link(href=context.self_url, rel="self", type="application/atom+xml")
    feed.author({"name": GENERATOR})
    feed.language(text_language(context.locale))
    feed.generator(GENERATOR)
    feed.rights(" ".join([*(credit.text for credit in context.attributions), context.disclosure]))
    for event in events:
        entry = feed.add_entry(order="append")
        entry.id(event.uuid.urn)
        film = f"{event.title} ({event.year})" if event.year else event.title
        change = event_text(t, event.event).format(platform=event.platform_name)
        entry.title(t.gettext("{film}: {change}").format(film=film, change=change))
        entry.updated(event.at)
        entry.published(event.at)
        page = film_page(context.film_url, event.film_id, event.imdb_id, event.tmdb_id)
        target = context.go_url(f"o{event.offer_id}")
        tagged = tag_link(event.link, context.link_tags)
        # Amazon's programme forbids hiding its link behind a redirect: linked as is.
        platform_link = tagged if is_direct(tagged) else target
        entry.link(href=page or platform_link, rel="alternate", type="text/html")
        if page:
            entry.link(href=platform_link, rel="related", type="text/html",
                       title=event.platform_name)
        entry.category(term=event.event, label=change)
        entry.summary(_summary(t, event, context.locale))
    return feed.atom_str(pretty=True)


def _summary(t, event: ChangeEvent, locale: str) -> str:
    language = text_language(locale)
    parts = [region_name(event.region, language), kind_texts(t)[event.kind][0]]
    after = event.price_after if event.event != LEFT else None
    if after is not None and event.currency:
        now_text = price_text(after, event.currency, locale)
        if event.event in (PRICE_DROP, PRICE_RISE) and event.price_before is not None:
            before = price_text(event.price_before, event.currency, locale)
            parts.append(t.gettext("{before} → {after}").format(before=before, after=now_text))
        else:
            parts.append(now_text)
    if event.event == LEAVING_SOON and event.ends_on:
        parts.append(t.gettext("last day {date}").format(
            date=format_skeleton("yMMMMd", event.ends_on, locale=locale)))
    return " · ".join(parts)
