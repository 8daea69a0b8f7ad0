"""What a source's terms require wherever its data is shown, and what it reported about the
account on its last answer: declared by each adapter (Provider.terms, Provider.account_report),
asked by the service through these names only."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Attribution:
    text: str
    url: str


@dataclass(frozen=True)
class Terms:
    """A source's rules for showing and keeping its data.

    `attributions`: the credits shown wherever its data is (TMDB's and JustWatch's).
    `price_max_age`: a price older than this is not shown, and a fresh one says when it was
    checked (Amazon: 24 hours). `retention`: the longest its data may be kept (TMDB: six
    months). `merchant` and `disclosure`: the merchant this source sells for and the
    statement its programme requires wherever that merchant's products show, whoever listed
    them (Amazon's Associates statement).
    """

    attributions: tuple[Attribution, ...] = ()
    price_max_age: dt.timedelta | None = None
    retention: dt.timedelta | None = None
    merchant: str | None = None
    disclosure: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain values, stored with the source so its data keeps its credits even when its
        adapter is no longer installed."""
        data = asdict(self)
        for name in ("price_max_age", "retention"):
            data[name] = getattr(self, name).total_seconds() if getattr(self, name) else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Terms":
        def seconds(name: str) -> dt.timedelta | None:
            value = data.get(name)
            return dt.timedelta(seconds=value) if value is not None else None

        return cls(attributions=tuple(Attribution(a["text"], a["url"])
                                      for a in data.get("attributions", ())),
                   price_max_age=seconds("price_max_age"), retention=seconds("retention"),
                   merchant=data.get("merchant"), disclosure=data.get("disclosure"))


@dataclass(frozen=True)
class AccountReport:
    """What a source said about the account on its last answer: a quota it counts itself
    (Watchmode's monthly credits) and a condition it put the account in (Amazon's link-only
    mode). Daily quotas the service counts itself are not reported here."""

    quota_remaining: int | None = None
    quota_period: str | None = None  # "month" | "day"
    notice: str | None = None
