"""The leak watch: every secret configured anywhere in the test suite is looked for in what
each test let out, and one hit fails that test.

Secrets are collected as they are configured: every `SecretStr` pydantic builds (provider
credentials, admin keys), every value `affiliate.credentials` stores (they pass through a
SecretStr when validated), and whatever a test adds with `secrets_registry.add(value)`
(admin passwords and API tokens). What a test lets out is every log record at DEBUG, from
any logger, every Flask test-client response (body and headers) and every CliRunner output.

Logs are captured at DEBUG without changing what other handlers see: while the watch runs,
every logger creates its records, the watch reads them all, and only those the logger's
own level lets through reach the handlers (caplog's included), as they would otherwise.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from click.testing import CliRunner
from flask.testing import FlaskClient
from pydantic import SecretStr

# Shorter values (a region, "true") would be found everywhere; no real secret is this short.
MIN_LENGTH = 6


class SecretsRegistry:
    """Every secret seen in this test session."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: object) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and len(value.strip()) >= MIN_LENGTH:
            self._values.add(value.strip())

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)


secrets_registry = SecretsRegistry()


def register_secret_strings() -> None:
    """From now on, register the value of every SecretStr created (once per process: test
    modules build settings while they are collected)."""
    original = SecretStr.__init__
    if getattr(original, "registers_secrets", False):
        return

    def init(self, secret_value):
        original(self, secret_value)
        secrets_registry.add(secret_value)

    init.registers_secrets = True
    SecretStr.__init__ = init


class LeakWatch:
    """What one test let out: log records, responses and command outputs."""

    def __init__(self, registry: SecretsRegistry) -> None:
        self.registry = registry
        self.records: list[logging.LogRecord] = []
        self.outputs: list[tuple[str, str]] = []  # (where, text)

    @contextmanager
    def watching(self, monkeypatch) -> Iterator["LeakWatch"]:
        self._watch_logs(monkeypatch)
        self._watch_responses(monkeypatch)
        self._watch_commands(monkeypatch)
        yield self

    def leaks(self) -> list[str]:
        """Where each registered secret was found, the secret masked (failure reports are
        output too)."""
        if not len(self.registry):
            return []
        texts = [(f"log {record.name} {record.levelname}", _formatted(record)) for record in self.records]
        texts += self.outputs
        return [f"{where}: ...{secret[-4:]} ({len(secret)} characters)"
                for where, text in texts for secret in self.registry if secret in text]

    def reset(self) -> None:
        """Forget what was let out so far (for a test that leaks on purpose)."""
        self.records.clear()
        self.outputs.clear()

    def _watch_logs(self, monkeypatch) -> None:
        enabled_for, handle = logging.Logger.isEnabledFor, logging.Logger.handle
        records = self.records

        def every_level(logger, level):
            return True

        def watched_handle(logger, record):
            records.append(record)
            if enabled_for(logger, record.levelno):
                handle(logger, record)

        monkeypatch.setattr(logging.Logger, "isEnabledFor", every_level)
        monkeypatch.setattr(logging.Logger, "handle", watched_handle)

    def _watch_responses(self, monkeypatch) -> None:
        open_, outputs = FlaskClient.open, self.outputs

        def watched_open(client, *args, **kwargs):
            response = open_(client, *args, **kwargs)
            headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
            body = response.get_data().decode("utf-8", "replace")
            outputs.append((f"response {response.status_code} {response.request.path}",
                            f"{headers}\n\n{body}"))
            return response

        monkeypatch.setattr(FlaskClient, "open", watched_open)

    def _watch_commands(self, monkeypatch) -> None:
        invoke, outputs = CliRunner.invoke, self.outputs

        def watched_invoke(runner, cli, args=None, *more, **kwargs):
            result = invoke(runner, cli, args, *more, **kwargs)
            text = result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                text += f"\n{type(result.exception).__name__}: {result.exception}"
            outputs.append((f"command {getattr(cli, 'name', cli)}", text))  # args may hold secrets
            return result

        monkeypatch.setattr(CliRunner, "invoke", watched_invoke)


def _formatted(record: logging.LogRecord) -> str:
    """The record as any handler would write it, traceback included."""
    try:
        return logging.Formatter("%(name)s %(message)s").format(record)
    except Exception:  # a record whose arguments do not fit its format: look at both
        return f"{record.msg} {record.args!r} {record.exc_info!r}"
