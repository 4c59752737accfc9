"""``monitoring serve``: the web server of daily reports, runbooks and the review page."""

from __future__ import annotations

import click

from monitoring_pipelines.cli.context import Context, pass_context


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. The server has no login of its own: put a reverse proxy with "
    "authentication in front before binding anything but 127.0.0.1.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@pass_context
def serve(ctx: Context, host: str, port: int) -> None:
    """Serve the daily reports (/reports/<monitor>/<day>), the runbooks (/runbooks/<check>)
    and the review page (/review) over HTTP. Alerts link here through MONITORING_WEB_URL."""
    import uvicorn

    from monitoring_pipelines.web import create_app

    app = create_app(ctx.settings)
    click.echo(
        f"serving reports, runbooks and reviews on http://{host}:{port} "
        f"(alerts link {ctx.settings.web_url}; set MONITORING_WEB_URL if that differs)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
