"""The `affiliate` command (also `python -m affiliate`): the service's commands, run in an
app built from the config file. An entry point, so the one module besides the WSGI target that
imports the app factory."""
from __future__ import annotations

import click

from affiliate.admin import commands as admin_commands
from affiliate.app import create_app
from affiliate.cli import COMMANDS
from affiliate.config import ConfigError, load_settings
from affiliate.logs import configure_logging, follow_settings


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="AFFILIATE_CONFIG",
              help="Config file [default: ./config.toml if present].")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show libraries' INFO lines (Alembic's, the scheduler's, the server's).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Self-hosted How to Watch and Related Products widgets for film sites."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"{exc}\nFix the value, or see config.example.toml.") from None
    handler = configure_logging(settings.logging, verbose)
    app = create_app(settings)
    app.extensions["affiliate"].listeners.append(lambda new: follow_settings(handler, new.logging))
    ctx.with_resource(app.app_context())


for _command in COMMANDS:
    main.add_command(_command)
# The console and its API are part of the standalone service (create_app), not of the
# extension a host app embeds, so their commands are `affiliate admin ...` only.
main.add_command(admin_commands.admin)

if __name__ == "__main__":
    main()
