"""Clicks on widget links: where a link leads, which clicks count, how they are kept, and the
reports built from them.

A link is named by a target, `o<offer id>` or `p<product id>`, and always leads to the link the
catalog stored (with the operator's tags): nothing in a request can choose the destination.
Most links go through /go/<target>, which counts the click and redirects. Amazon's programme
forbids a redirect that hides its link, so Amazon links stay direct and a beacon counts their
clicks instead (`via` tells the two apart). A click keeps only what the reports need: no IP
address, no cookie, no user agent. Robots, link previews, prefetches and HEAD requests are not
counted, nor a visitor's clicks on one link past `clicks.per_visitor` (affiliate.click_limit).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Literal, Mapping

from crawlerdetect import CrawlerDetect
from sqlalchemy import func
from sqlmodel import select

from affiliate.catalog import film_key
from affiliate.config import LinkTag
from affiliate.db import Database
from affiliate.links import showable, tag_link
from affiliate.models import Click, Film, FilmProduct, Offer, Platform, Product
from affiliate.sources import direct_link

REDIRECT, BEACON = "redirect", "beacon"
HOW_TO_WATCH, RELATED_PRODUCTS = "how-to-watch", "related-products"

_TARGET = re.compile(r"^(?P<kind>[op])(?P<id>[1-9][0-9]{0,9})$")
_MAX_ID = 2**31 - 1
# User agents of crawlers, link previewers, monitors and scripts: their requests are not
# clicks. The maintained list (crawlerdetect, from the PHP project CrawlerDetect) first; then
# what it missed or may drop: the link previews of chat apps and readers, HTTP libraries,
# headless browsers and monitors.
_CRAWLERS = CrawlerDetect()
_ROBOT = re.compile(
    r"bot|crawl|spider|slurp|archiver|facebookexternalhit|embedly|preview|monitor|pingdom|"
    r"uptime|lighthouse|headless|phantomjs|curl|wget|python-|httpx|aiohttp|go-http-client|"
    r"java/|okhttp|libwww|whatsapp|signal|iframely|google-read-aloud|google-inspectiontool|"
    r"node-fetch|axios|apache-httpclient", re.IGNORECASE)
# What browsers send when they fetch a link ahead of a click (or for a thumbnail).
_PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Moz", "X-Purpose")
_PREFETCH = re.compile(r"prefetch|prerender|preview", re.IGNORECASE)


class UnknownTarget(LookupError):
    """The target is malformed or names nothing stored, or is not reached this way; the
    message says which (a 404)."""


@dataclass(frozen=True)
class Destination:
    """Where a target leads, and the click row it makes."""

    target: str
    url: str  # the stored link, with the operator's tags
    direct: bool  # counted by beacon: the widget links `url` itself
    film_id: int | None  # None only for a product no film shows any more
    offer_id: int | None
    product_id: int | None
    name: str  # platform or merchant
    region: str
    kind: str  # offer kind or product format
    widget: str


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    key: str  # the platform (or merchant) name, or the region code
    clicks: int


@dataclass(frozen=True)
class FilmClicks:
    film_id: int
    ref: str
    title: str
    year: int | None
    clicks: int


@functools.lru_cache(maxsize=8192)
def is_direct(url: str) -> bool:
    """Whether a link must be shown as it is, its clicks counted by beacon (Amazon's, by its
    adapter's link policy: affiliate.sources.direct_link). Kept per link: every widget render
    asks it of every row, and parsing the URL was a tenth of building a row."""
    return direct_link(url)


def is_counted(method: str, headers: Mapping[str, str]) -> bool:
    """A visitor's click, not a HEAD request, a robot or a browser fetching ahead."""
    if method == "HEAD":
        return False
    if is_robot(headers.get("User-Agent", "")):
        return False
    return not any(_PREFETCH.search(headers.get(name, "")) for name in _PREFETCH_HEADERS)


@functools.lru_cache(maxsize=4096)
def is_robot(agent: str) -> bool:
    """Whether a user agent is a robot or link preview (none at all counts as one). Kept per
    agent: the maintained list is a long pattern, and visitors' browsers repeat."""
    agent = agent.strip()
    return not agent or bool(_ROBOT.search(agent)) or _CRAWLERS.is_crawler(agent)


def destination(db: Database, target: str, link_tags: list[LinkTag],
                film_id: int | None = None) -> Destination:
    """What `target` leads to. `film_id` only says which film a shared product was clicked
    with (a box set shown with several films); it never changes where the link leads."""
    match = _TARGET.match(target)
    if not match or int(match["id"]) > _MAX_ID:
        raise UnknownTarget(f"{target!r} is not a link target such as o12 (an offer) or p7 "
                            f"(a product)")
    number = int(match["id"])
    with db.session() as session:
        if match["kind"] == "o":
            found = session.exec(select(Offer, Platform).join(Platform, Platform.id == Offer.platform_id)
                                 .where(Offer.id == number)).first()
            if found is None:
                raise UnknownTarget(f"no offer {number}")
            offer, platform = found
            return _destination(target, tag_link(offer.link, link_tags), offer.film_id,
                                offer_id=offer.id, product_id=None, name=platform.name,
                                region=offer.region, kind=offer.kind, widget=HOW_TO_WATCH)
        product = session.get(Product, number)
        if product is None:
            raise UnknownTarget(f"no product {number}")
        films = session.exec(select(FilmProduct.film_id).where(FilmProduct.product_id == number)
                             .order_by(FilmProduct.id)).all()
    shown_with = film_id if film_id in films else next(iter(films), None)
    return _destination(target, tag_link(product.link, link_tags), shown_with, offer_id=None,
                        product_id=product.id, name=product.merchant, region=product.region,
                        kind=product.format, widget=RELATED_PRODUCTS)


def _destination(target: str, url: str, film_id: int | None, **row) -> Destination:
    if not showable(url):  # stored some other way than through a source's checks
        raise UnknownTarget(f"{target} has no http(s) link to send a visitor to")
    return Destination(target=target, url=url, direct=is_direct(url), film_id=film_id, **row)


def record_click(db: Database, where: Destination, via: Literal["redirect", "beacon"],
                 now: dt.datetime) -> bool:
    """Count one click; False if no film shows the product any more (nothing to count)."""
    if where.film_id is None:
        return False
    with db.session() as session:
        session.add(Click(at=now, day=now.astimezone(dt.timezone.utc).date(),
                          film_id=where.film_id, offer_id=where.offer_id,
                          product_id=where.product_id, target=where.name[:120],
                          region=where.region, kind=where.kind[:20], widget=where.widget, via=via))
    return True


def clicks_by_day(db: Database, since: dt.date, until: dt.date,
                  by: Literal["platform", "region"] = "platform") -> list[DayCount]:
    """Clicks per day (UTC, both ends included) and platform (or merchant) or region; each
    day's busiest first."""
    columns = {"platform": Click.target, "region": Click.region}
    if by not in columns:
        raise ValueError(f"by: {by!r} is not one of {', '.join(columns)}")
    key, clicks = columns[by], func.count(Click.id)
    query = (select(Click.day, key, clicks).where(Click.day >= since, Click.day <= until)
             .group_by(Click.day, key).order_by(Click.day, clicks.desc(), key))
    with db.session() as session:
        return [DayCount(day, name, count) for day, name, count in session.exec(query).all()]


def top_films(db: Database, since: dt.date, until: dt.date, limit: int = 10) -> list[FilmClicks]:
    """The films whose widget links were clicked most between two days (UTC, both included)."""
    clicks = func.count(Click.id)
    query = (select(Film, clicks).join(Click, Click.film_id == Film.id)
             .where(Click.day >= since, Click.day <= until)
             .group_by(Film.id).order_by(clicks.desc(), Film.title, Film.id).limit(limit))
    with db.session() as session:
        rows = session.exec(query).all()
    return [FilmClicks(film.id, str(film_key(film)), film.title, film.year, count)
            for film, count in rows]
