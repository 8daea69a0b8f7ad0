"""View models of the lists of availability changes: "What's new", "Leaving soon" and "Price
drops" over the whole catalog, grouped by day, in the visitor's language.

Built from the offer events (affiliate.change_events) only, so a list shows the same changes
as the feeds and webhooks, and what it shows changes with the newest event and the clock
alone: its rendering is cached under the newest event's id until `fresh_until`. What a
visitor sees is true now: an entry whose offer has left, ended or changed price again since
is not shown.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from babel.dates import format_date, format_skeleton
from babel.support import NullTranslations

from affiliate.brands import Brand, brand
from affiliate.change_events import (
    APPEARED,
    LEAVING_SOON,
    LEFT,
    PRICE_DROP,
    PRICE_RISE,
    RETURNED,
    ChangeEvent,
    EventFilter,
    find_events,
)
from affiliate.clicks import is_direct
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.film_pages import film_page
from affiliate.i18n import text_language, translations
from affiliate.links import tag_link
from affiliate.sources import SourceDirectory
from affiliate.types import utcnow
from affiliate.widgets import DEFAULT_DISCLOSURE, FilmSummary, Price, price_text
from providers.regions import local_date, region_name, start_of_day
from providers.terms import Attribution

NEW, LEAVING, PRICE_DROPS = "new", "leaving", "price-drops"
LISTS = (NEW, LEAVING, PRICE_DROPS)
# The events each list is made of.
_EVENTS = {NEW: frozenset({APPEARED, RETURNED}), LEAVING: frozenset({LEAVING_SOON}),
           PRICE_DROPS: frozenset({PRICE_DROP})}


class ListQuery(NamedTuple):
    """A list's filters, already checked (affiliate.change_routes)."""

    platforms: frozenset[str]  # slugs; empty: every platform
    kinds: frozenset[str]  # keys of change_events.OFFER_KINDS; empty: every kind
    days: int  # the last (or, for leaving, the next) this many days, today included


class ChangeEntry(NamedTuple):
    film: FilmSummary
    poster_url: str | None
    film_url: str | None  # the film's page on the host site (changes.film_url)
    event: str  # appeared, returned, leaving_soon, price_drop
    event_ids: tuple[int, ...]  # the events it stands for (one per quality or source)
    platform: str
    slug: str
    logo_url: str | None
    monogram: str
    brand: Brand | None
    kind: str  # stream, free, rent, buy
    kind_label: str
    text: str  # "New on Netflix"
    price: Price | None  # the price now
    price_before: Price | None  # before the drop
    link: str  # the stored link with the operator's tags
    go_target: str  # "o<offer id>", as in widgets.PlatformRow
    direct: bool
    action: str
    action_label: str


class DayGroup(NamedTuple):
    day: dt.date
    label: str  # "Monday, March 2, 2026"
    entries: tuple[ChangeEntry, ...]


@dataclass(frozen=True)
class ChangesView:
    list: str
    region: str
    region_name: str
    locale: str
    language: str
    heading: str
    period: str  # "United States · since March 2"
    start: dt.date  # the period's first and last day, in the region's calendar
    end: dt.date
    groups: tuple[DayGroup, ...]
    sources: tuple[str, ...]
    attributions: tuple[Attribution, ...]
    disclosure: str
    empty_message: str
    fresh_until: dt.datetime  # the next day boundary, or an offer shown ending, first


def changes_view(db: Database, list_name: str, region: str, locale: str, settings: Settings,
                 query: ListQuery, now: dt.datetime | None = None,
                 sources: SourceDirectory | None = None,
                 film_url: str | None = None) -> ChangesView:
    """The list in `region`, for the period `query.days` ends (or, leaving, starts) with
    today. `film_url` overrides the configured template (a host app's macro call)."""
    now = now or utcnow()
    sources = sources or SourceDirectory(db, settings)
    t = translations(locale)
    language = text_language(locale)
    today = local_date(now, region)
    if list_name == LEAVING:
        start, end = today, today + dt.timedelta(days=query.days - 1)
        since = None
    else:
        start, end = today - dt.timedelta(days=query.days - 1), today
        since = start_of_day(start, region)
    events = find_events(db, EventFilter(regions=frozenset({region}), platforms=query.platforms,
                                         kinds=query.kinds, events=_EVENTS[list_name],
                                         since=since), now)
    shown = [event for event in events if _still_true(event, list_name, start, end)]
    template = film_url if film_url is not None else settings.changes.film_url
    groups = _groups(shown, list_name, region, locale, t, settings, template)
    name = region_name(region, language)
    used = tuple(sorted({event.source for event in shown}))
    heading, empty = _texts(t, list_name)
    bound = _date(end if list_name == LEAVING else start, locale)
    ends = [event.ends_at for event in shown if event.ends_at is not None and event.ends_at > now]
    return ChangesView(
        list=list_name, region=region, region_name=name, locale=locale, language=language,
        heading=heading,
        period=(t.gettext("{region}, until {date}") if list_name == LEAVING
                else t.gettext("{region}, since {date}")).format(region=name, date=bound),
        start=start, end=end, groups=groups, sources=used,
        attributions=tuple(dict.fromkeys(credit for source in used
                                         for credit in sources.terms(source).attributions)),
        disclosure=settings.widgets.disclosure or t.gettext(DEFAULT_DISCLOSURE),
        empty_message=empty.format(date=bound),
        fresh_until=min([start_of_day(today + dt.timedelta(days=1), region), *ends]),
    )


def _still_true(event: ChangeEvent, list_name: str, start: dt.date, end: dt.date) -> bool:
    """Shown only while the offer is: still there, still leaving within the period, still at
    the lowered price."""
    if not event.offer_visible:
        return False
    if list_name == LEAVING:
        return event.ends_on is not None and start <= event.ends_on <= end
    if list_name == PRICE_DROPS:
        return event.price_now == event.price_after
    return True


def _groups(events: list[ChangeEvent], list_name: str, region: str, locale: str,
            t: NullTranslations, settings: Settings, template: str | None) -> tuple[DayGroup, ...]:
    """One group per day (leaving: the offer's last day; else the day of the event), newest
    first (leaving: soonest first); in a day, one entry per film, platform and kind."""
    days: dict[dt.date, dict[tuple, list[ChangeEvent]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        day = event.ends_on if list_name == LEAVING else local_date(event.at, region)
        days[day][(event.film_id, event.platform, event.kind)].append(event)
    order = sorted(days, reverse=list_name != LEAVING)
    return tuple(
        DayGroup(day, format_date(day, "full", locale=locale),
                 tuple(sorted((_entry(same, locale, t, settings, template)
                               for same in days[day].values()),
                              key=lambda entry: (entry.film.title.casefold(),
                                                 entry.platform.casefold(), entry.kind))))
        for day in order)


def _entry(same: list[ChangeEvent], locale: str, t: NullTranslations, settings: Settings,
           template: str | None) -> ChangeEntry:
    """Several events of one film, platform and kind on one day (one per quality or source):
    the cheapest offer's price and link stand for them, as in How to Watch."""
    cheapest = min(same, key=lambda e: (e.price_now is None, e.price_now or 0, not e.deep_link))
    link = tag_link(cheapest.link, settings.link_tags)
    kind_label, action, action_text = kind_texts(t)[cheapest.kind]
    film = FilmSummary(cheapest.film_id, cheapest.film_ref, cheapest.title, cheapest.year,
                       cheapest.imdb_id, cheapest.tmdb_id)
    return ChangeEntry(
        film=film, poster_url=cheapest.poster_url,
        film_url=film_page(template, film.id, film.imdb_id, film.tmdb_id),
        event=cheapest.event, event_ids=tuple(sorted(e.id for e in same)),
        platform=cheapest.platform_name, slug=cheapest.platform,
        logo_url=cheapest.platform_logo_url, monogram=_monogram(cheapest.platform_name),
        brand=brand(cheapest.platform), kind=cheapest.kind, kind_label=kind_label,
        text=event_text(t, cheapest.event).format(platform=cheapest.platform_name),
        price=_price(cheapest.price_now, cheapest.currency, locale),
        price_before=(_price(cheapest.price_before, cheapest.currency, locale)
                      if cheapest.event == PRICE_DROP else None),
        link=link, go_target=f"o{cheapest.offer_id}", direct=is_direct(link), action=action,
        action_label=action_text.format(film=film.title, platform=cheapest.platform_name),
    )


def _texts(t: NullTranslations, list_name: str) -> tuple[str, str]:
    """A list's heading and what it says when empty."""
    if list_name == NEW:
        return t.gettext("What's new"), t.gettext("Nothing new since {date}.")
    if list_name == LEAVING:
        return t.gettext("Leaving soon"), t.gettext("Nothing is leaving until {date}.")
    return t.gettext("Price drops"), t.gettext("No price drops since {date}.")


def event_text(t: NullTranslations, event: str) -> str:
    """What happened, with a {platform} placeholder (lists and feeds say it alike)."""
    return {APPEARED: t.gettext("New on {platform}"), RETURNED: t.gettext("Back on {platform}"),
            LEFT: t.gettext("Left {platform}"), LEAVING_SOON: t.gettext("Leaving {platform}"),
            PRICE_DROP: t.gettext("Price drop on {platform}"),
            PRICE_RISE: t.gettext("Price change on {platform}")}[event]


def kind_texts(t: NullTranslations) -> dict[str, tuple[str, str, str]]:
    """Per kind of offer: its label, the action and the action's label for screen readers
    (the How to Watch widget's words)."""
    texts = {
        "stream": (t.pgettext("offer group", "Stream"), t.gettext("Stream"),
                   t.gettext("Stream {film} on {platform}")),
        "free": (t.pgettext("offer group", "Free"), t.gettext("Watch"),
                 t.gettext("Watch {film} free on {platform}")),
        "rent": (t.pgettext("offer group", "Rent"), t.gettext("Rent"),
                 t.gettext("Rent {film} on {platform}")),
        "buy": (t.pgettext("offer group", "Buy"), t.gettext("Buy"),
                t.gettext("Buy {film} on {platform}")),
    }
    return texts


def _price(amount, currency: str | None, locale: str) -> Price | None:
    if amount is None or not currency:
        return None
    return Price(amount=amount, currency=currency, text=price_text(amount, currency, locale))


def _date(day: dt.date, locale: str) -> str:
    return format_skeleton("MMMMd", day, locale=locale)


def _monogram(name: str) -> str:
    """As the How to Watch tiles: "Apple TV" -> "AT"."""
    return "".join(word[0] for word in name.split()[:2]).upper()
