"""The `affiliate` command (also `python -m affiliate`): the service's commands, run in an
app built from the config file. An entry point, so the one module besides the WSGI target that
imports the app factory.

Nothing heavy is imported here: `affiliate --help` lists the commands from
affiliate.command_index, and a command's module, the config and the app are imported when it
runs. Commands that only read the database (BARE_APP) run in an app with the service's state
and no routes, console or probes, so they start without importing those.
"""
from __future__ import annotations

import click

from affiliate.command_index import SERVICE_COMMANDS, LazyGroup

BARE_APP = frozenset({"status"})


@click.group(cls=LazyGroup, lazy=SERVICE_COMMANDS)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="AFFILIATE_CONFIG",
              help="Config file [default: ./config.toml if present].")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show libraries' INFO lines (Alembic's, the scheduler's, the server's).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Self-hosted How to Watch and Related Products widgets for film sites."""
    from affiliate.config import ConfigError, load_settings
    from affiliate.logs import configure_logging, follow_settings

    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"{exc}\nFix the value, or see config.example.toml.") from None
    handler = configure_logging(settings.logging, verbose)
    app = bare_app(settings) if ctx.invoked_subcommand in BARE_APP else _service_app(settings)
    app.extensions["affiliate"].listeners.append(lambda new: follow_settings(handler, new.logging))
    ctx.with_resource(app.app_context())


def _service_app(settings):
    from affiliate.app import create_app

    return create_app(settings)


def bare_app(settings):
    """A Flask app holding only the service's state (affiliate.state), for a command."""
    from flask import Flask

    from affiliate.db import Database
    from affiliate.state import AffiliateState

    app = Flask(__name__, static_folder=None)
    app.extensions["affiliate"] = AffiliateState(settings, Database(settings.service.database_url))
    return app


if __name__ == "__main__":
    main()
