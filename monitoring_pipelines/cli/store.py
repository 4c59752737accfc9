"""``store version``: the result store's schema version beside this release's."""

from __future__ import annotations

import sys

import click

from monitoring_pipelines.cli.context import Context, pass_context
from monitoring_pipelines.core.store.engine import redact_url


@click.group()
def store() -> None:
    """The result store ($MONITORING_STORE_URL)."""


@store.command("version")
@pass_context
def store_version(ctx: Context) -> None:
    """Print the store's schema version and this release's; exit 1 when they differ. Nothing
    is changed: a run or any command that opens the store brings an older one up to date, and
    a store of a newer release is refused."""
    from monitoring_pipelines.core.store.migrations import LATEST
    from monitoring_pipelines.core.store.versions import read_version

    url = ctx.settings.store_url
    found = read_version(url)
    click.echo(f"store: {redact_url(url)}")
    click.echo(f"store schema version: {found}" + (" (none recorded)" if found == 0 else ""))
    click.echo(f"release schema version: {LATEST}")
    if found < LATEST:
        click.echo("the store is older: the next run or command that opens it upgrades it")
    elif found > LATEST:
        click.echo("the store was written by a newer release: this one refuses to open it")
    if found != LATEST:
        sys.exit(1)
