"""HTTP for adapters: one place that turns transport failures, status codes and bodies that
are not what the documentation promises into the ProviderError kinds refresh acts on.

Messages name the scheme, host and path only: query strings and headers often carry keys
(and, for feeds whose URLs hold a key in the path, only the scheme and host).

Redirects (providers.outbound): an adapter's calls follow only redirects that stay on the
configured origin; one to another host is refused, not followed with the credentials
stripped, because the credentials are adapter-specific headers (X-API-Key, X-RapidAPI-Key,
Authorization...) and query parameters (TMDB's api_key) that a shared client cannot tell
from ordinary ones, and because an API that moves host is a base_url for the operator to
change, not a hop to take silently. Provider base URLs are exempt from the address rule
(operators point them at stand-ins and proxies on their own network); feeds are not
(`check_addresses`). An answer from another origin than the one asked is never read as the
source's own: a 401 there is not "credentials refused".
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ValidationError

from providers.base import (
    AuthFailed,
    BadResponse,
    NotFound,
    ProviderError,
    RateLimited,
    Refused,
    Transient,
)
from providers.outbound import (
    Limits,
    OutboundRefused,
    Redirects,
    TooLarge,
    TooSlow,
    guarded_session,
    origin_label,
    same_origin,
    send,
)

# An adapter's own reading of a failed answer (Watchmode's 402, Amazon's error codes...);
# it returns None to leave the response to the generic rules.
Classifier = Callable[[requests.Response, str], ProviderError | None]


def safe_label(url: str, show_path: bool = True) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path if show_path else ''}"


def retry_after_seconds(value: str | None) -> float | None:
    """Read Retry-After, which is a number of seconds or an HTTP date; None if neither."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def raise_for_status(status: int, retry_after: str | None, label: str) -> None:
    if status < 400:
        return
    message = f"{label}: HTTP {status}"
    if status in (401, 403):
        raise AuthFailed(message)
    if status == 429:
        raise RateLimited(message, retry_after=retry_after_seconds(retry_after))
    if status in (404, 410):
        raise NotFound(message)
    if status >= 500 or status == 408:
        raise Transient(message)
    raise BadResponse(message)


class Http:
    """A requests session with a timeout, default headers and the error mapping above.

    `redirects` is "same-origin" for anything that carries credentials; "any" (each hop
    still http(s) only) suits a URL that carries none of ours. `check_addresses` applies
    the address rule at connect time, with `allow_private` as the operator set it."""

    def __init__(self, timeout: float, headers: dict[str, str] | None = None,
                 classify: Classifier | None = None, show_path: bool = True,
                 before_request: Callable[[], None] | None = None,
                 retry: Callable[[Callable[[], Any]], Any] | None = None,
                 redirects: Redirects = "same-origin", check_addresses: bool = False,
                 allow_private: bool = False, limits: Limits = Limits()):
        self.timeout = timeout
        self.show_path = show_path
        self.redirects = redirects
        self.limits = limits
        self.session = guarded_session(allow_private) if check_addresses else requests.Session()
        self.session.headers.update(headers or {})
        self.classify = classify
        # The provider's throttle: waits for its rate, or raises RateLimited when it may not call.
        self.before_request = before_request
        # The provider's retry policy around each request (see Provider.retry).
        self.retry = retry

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self.retry is None:
            return self._request_once(method, url, **kwargs)
        return self.retry(lambda: self._request_once(method, url, **kwargs))

    def _request_once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        label = safe_label(url, self.show_path)
        if self.before_request is not None:
            self.before_request()
        try:
            response = send(self.session, method, url, timeout=self.timeout,
                            redirects=self.redirects, limits=self.limits, **kwargs)
        except requests.Timeout:
            raise Transient(f"{label}: no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            # The exception's text holds the full URL (and any key in it): report its kind.
            raise Transient(f"{label}: request failed ({type(exc).__name__})") from None
        except TooSlow as exc:
            raise Transient(f"{label}: {exc}") from None
        except TooLarge as exc:
            raise BadResponse(f"{label}: {exc}") from None
        except OutboundRefused as exc:
            raise Refused(f"{label}: {exc}") from None
        if not same_origin(url, response.url or url):
            self._foreign_answer(response, label)
        elif response.status_code >= 400 and self.classify is not None:
            error = self.classify(response, label)
            if error is not None:
                raise error
        raise_for_status(response.status_code, response.headers.get("Retry-After"), label)
        return response

    @staticmethod
    def _foreign_answer(response: requests.Response, label: str) -> None:
        """A redirect target's failure is that host's, never the source's verdict on its
        credentials (nor read through the adapter's own error rules)."""
        if response.status_code in (401, 403):
            raise BadResponse(f"{label}: HTTP {response.status_code} from "
                              f"{origin_label(response.url)}, where a redirect led; another "
                              "host than the configured one, so not taken as credentials refused")

    def json(self, method: str, url: str, *, strict: bool = True, **kwargs: Any) -> Any:
        """The decoded JSON body; `strict=False` accepts raw control characters in strings."""
        response = self.request(method, url, **kwargs)
        return decode_json(response, safe_label(url, self.show_path), strict=strict)


def decode_json(response: requests.Response, label: str, strict: bool = True) -> Any:
    media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media and "json" not in media and not media.startswith("text/javascript"):
        raise BadResponse(f"{label}: expected JSON, got {media}")
    # JSON is UTF-8 unless the answer names a charset (requests would guess Latin-1 for text/*).
    charset = response.encoding if "charset=" in response.headers.get("Content-Type", "") else "utf-8"
    try:
        return json.loads(response.content.decode(charset, "replace"), strict=strict)
    except ValueError as exc:
        raise BadResponse(f"{label}: not valid JSON ({exc})") from None


def parse_as(model: type[BaseModel], data: Any, label: str):
    """Validate a decoded body against the documented shape; BadResponse names the path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise BadResponse(f"{label}: {path}: {message}") from None


class _RedactQueryStrings(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string included, and some sources
    (TMDB's v3 api_key) only take their key there: keep the path, drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] + "?…" if isinstance(arg, str) and "?" in arg
                                else arg for arg in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQueryStrings())
