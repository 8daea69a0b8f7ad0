"""The service's commands by name, with their one-line help, imported only when run.

`affiliate --help` and shell completion list every command from this table without importing
a module behind one (the CLI imported the whole service to print its help); running a command
imports only the module that defines it (click's "Lazily Loading Subcommands"). Each entry's
help is its command's first docstring line; tests/test_cli.py keeps the two the same.
"""
from __future__ import annotations

from importlib import import_module

import click

from affiliate.long_lived import long_lived_objects

# name -> (module, attribute, one-line help), in `affiliate --help`'s (alphabetical) order.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "credentials": ("affiliate.cli", "credentials_group",
                    "The key that encrypts stored provider credentials."),
    "db": ("affiliate.cli", "db", "Database schema."),
    "films": ("affiliate.cli", "films", "Films in the catalog."),
    "platforms": ("affiliate.cli", "platforms", "Platforms shown in How to Watch."),
    "products": ("affiliate.cli", "products", "Products shown with films: review sources' candidates."),
    "providers": ("affiliate.cli", "providers", "Configured providers."),
    "prune": ("affiliate.cli", "prune",
              "Delete data kept longer than its source's terms allow (each adapter declares how "
              "long); the scheduler does this every few hours."),
    "refresh": ("affiliate.cli", "refresh",
                "Fetch now and store what providers say: a named film, else feeds' whole catalogs and "
                "the films due at API sources (at most refresh.max_films_per_run each)."),
    "scheduler": ("affiliate.cli", "scheduler",
                  "Run only the scheduler, for deployments whose web workers run elsewhere."),
    "serve": ("affiliate.cli", "serve", "Serve the widgets (and run the scheduler) in this one process."),
    "status": ("affiliate.status_command", "status",
               "Per provider: health, last success and error, next run, quota left, breaker state."),
    "webhooks": ("affiliate.webhooks.commands", "webhooks",
                 "Signed availability events (Standard Webhooks) to your endpoints."),
}
# The console and its API are part of the standalone service (create_app), not of the
# extension a host app embeds, so their commands are `affiliate admin ...` only.
SERVICE_COMMANDS: dict[str, tuple[str, str, str]] = {
    **COMMANDS,
    "admin": ("affiliate.admin.commands", "admin", "Operators and API tokens of the admin console (/admin) and API "
              "(/admin/api/v1)."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run, and whose help is the table's."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, attribute, _ = self.lazy[cmd_name]
            with long_lived_objects():
                command = getattr(import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._short_help(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _short_help(self, ctx: click.Context, name: str, limit: int) -> str:
        if name in self.commands or name not in self.lazy:
            command = super().get_command(ctx, name)
            return command.get_short_help_str(limit) if command else ""
        return click.Command(name, help=self.lazy[name][2]).get_short_help_str(limit)


def register_commands(app) -> None:
    """`flask affiliate <command>` in any app that uses the extension."""
    app.cli.add_command(LazyGroup("affiliate", help="Affiliate widgets service.", lazy=COMMANDS))
