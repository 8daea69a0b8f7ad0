"""The click report: clicks per day by platform (or merchant) and by region, and the most
clicked films, over a period of UTC days; read through `affiliate.clicks`, drawn by
`affiliate.admin.charts`, and given as JSON to the admin API."""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

from affiliate.admin.charts import Series, bars, stacked_bars, top_series
from affiliate.clicks import DayCount, clicks_by_day, top_films
from affiliate.db import Database

DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP_FILMS = 10


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    svg: Markup
    headings: list[str]
    rows: list[list]  # the chart's numbers, one row per day or film


@dataclass(frozen=True)
class Report:
    since: dt.date
    until: dt.date
    total: int
    charts: list[Chart]


def period(since: str | None, until: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days asked for (both included): by default the last 30 up to today. ValueError
    names a malformed date, a reversed period or one longer than a year."""
    end = _date("until", until) if until else today
    start = _date("since", since) if since else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValueError(f"since ({start}) is after until ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValueError(f"a report covers at most {MAX_DAYS} days; narrow since/until")
    return start, end


def build(db: Database, since: dt.date, until: dt.date) -> Report:
    days = _days(since, until)
    platforms = clicks_by_day(db, since, until, "platform")
    regions = clicks_by_day(db, since, until, "region")
    films = top_films(db, since, until, TOP_FILMS)
    span = f"from {since} to {until}"
    charts = [
        _per_day("by-platform", "Clicks per day by platform", f"Clicks per day {span}, stacked by "
                 "platform or merchant.", days, platforms),
        _per_day("by-region", "Clicks per day by region", f"Clicks per day {span}, stacked by "
                 "region.", days, regions),
        Chart("top-films", "Top films", bars(
            "top-films", "Top films", f"The {TOP_FILMS} most clicked films {span}.",
            [(_film_label(f), f.clicks) for f in films]),
            ["Film", "Clicks"], [[_film_label(f), f.clicks] for f in films]),
    ]
    return Report(since, until, sum(row.clicks for row in platforms), charts)


def as_json(db: Database, since: dt.date, until: dt.date) -> dict:
    def counts(by: str) -> list[dict]:
        return [{"day": row.day.isoformat(), by: row.key, "clicks": row.clicks}
                for row in clicks_by_day(db, since, until, by)]

    by_platform = counts("platform")
    return {
        "since": since.isoformat(), "until": until.isoformat(),
        "total": sum(row["clicks"] for row in by_platform),
        "by_platform": by_platform, "by_region": counts("region"),
        "top_films": [{"film_id": f.film_id, "ref": f.ref, "title": f.title, "year": f.year,
                       "clicks": f.clicks} for f in top_films(db, since, until, TOP_FILMS)],
    }


def _per_day(chart_id: str, title: str, description: str, days: list[dt.date],
             counts: list[DayCount]) -> Chart:
    index = {day: i for i, day in enumerate(days)}
    by_key: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in counts:
        by_key[row.key][index[row.day]] += row.clicks
    series = top_series([Series(key, tuple(values)) for key, values in by_key.items()])
    labels = [day.isoformat() for day in days]
    rows = [[label, *(s.values[i] for s in series), sum(s.values[i] for s in series)]
            for i, label in enumerate(labels)] if series else []
    return Chart(chart_id, title, stacked_bars(chart_id, title, description, labels, series),
                 ["Day", *(s.name for s in series), "Total"], rows)


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=n) for n in range((until - since).days + 1)]


def _date(name: str, text: str) -> dt.date:
    try:
        if not re.fullmatch("[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
            raise ValueError(text)
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}: {text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _film_label(film) -> str:
    title = film.title or film.ref
    return f"{title} ({film.year})" if film.year else title
