"""The product's web server: daily reports, runbooks and the review page over HTTP.

Thin routes over the core and the stores (``monitoring serve``); it binds to 127.0.0.1 by
default and leaves authentication to a reverse proxy (README.md, "Reports and review in the
browser").
"""

from monitoring_pipelines.web.app import create_app

__all__ = ["create_app"]
