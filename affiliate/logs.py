"""How the service's processes log ([logging] in config.toml).

`format = "json"` writes one JSON object a line, for a log collector (Loki, Elasticsearch,
CloudWatch): time, level, logger, message, and where known the request id, the provider
being refreshed and the film asked for, which this module keeps in context variables (set
per request by `init_request_context`, per provider run by `log_context`). `text` writes
the same as a line for a terminal.

The service's own loggers (`affiliate.*`, `providers.*`) log at `level`; libraries (Alembic,
APScheduler, waitress, urllib3...) only say warnings and errors unless asked for more (the
CLI's --verbose), so a command prints what it did and nothing else.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import sys
from contextlib import contextmanager
from typing import Iterator

from affiliate.config import LoggingSettings

OUR_LOGGERS = ("affiliate", "providers")
REQUEST_ID_HEADER = "X-Request-ID"
# A request id a proxy sent is kept if it looks like one; anything else is replaced, so a
# visitor cannot write arbitrary text into the logs.
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SANE_FILM = re.compile(r"^[A-Za-z0-9:._-]{1,40}$")  # 17, tmdb:451, imdb:tt0113627

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
provider: contextvars.ContextVar[str | None] = contextvars.ContextVar("provider", default=None)
film: contextvars.ContextVar[str | None] = contextvars.ContextVar("film", default=None)
_CONTEXT = {"request_id": request_id, "provider": provider, "film": film}

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"


class ContextFilter(logging.Filter):
    """Puts the context variables on every record (as attributes) before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in _CONTEXT.items():
            if not hasattr(record, name):
                setattr(record, name, variable.get())
        known = [f"{name}={getattr(record, name)}" for name in _CONTEXT if getattr(record, name)]
        record.context = f" [{' '.join(known)}]" if known else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line; context fields only when set; a traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
                      .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is logged (as logging's last resort
    does), so a replaced stderr (a test's, a daemon's) gets the lines."""

    _affiliate = True

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def formatter(settings: LoggingSettings) -> logging.Formatter:
    return JsonFormatter() if settings.format == "json" else logging.Formatter(_TEXT_FORMAT)


def configure_logging(settings: LoggingSettings, verbose: bool = False) -> logging.Handler:
    """One handler on the root logger (stderr) in the configured format, replacing any
    this module installed before; libraries at WARNING unless `verbose`."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_affiliate", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(settings))
    root.addHandler(handler)
    level = logging.getLevelName(settings.level)
    root.setLevel(min(level, logging.INFO) if verbose else max(level, logging.WARNING))
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return handler


def follow_settings(handler: logging.Handler, settings: LoggingSettings) -> None:
    """Apply a reloaded [logging] to the handler configure_logging installed."""
    handler.setFormatter(formatter(settings))
    level = logging.getLevelName(settings.level)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Lines logged inside the block carry these fields (provider=..., film=...)."""
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def init_request_context(app) -> None:
    """Every request of `app` gets an id (the proxy's X-Request-ID if it sent a sane one,
    else a new one) and its film reference when the route names one; lines logged while it
    is served carry both. The id is not sent back: widget answers are the same for every
    visitor, and a CDN shares them."""
    from flask import request

    @app.before_request
    def _start() -> None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        request_id.set(sent if _SANE_ID.match(sent) else secrets.token_hex(8))
        named = (request.view_args or {}).get("film") or request.args.get("film") or ""
        film.set(named if _SANE_FILM.match(named) else None)

    @app.teardown_request
    def _end(_exc) -> None:
        request_id.set(None)
        film.set(None)
