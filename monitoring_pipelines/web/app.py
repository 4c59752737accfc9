"""The FastAPI application: shared state, page rendering, security headers and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from monitoring_pipelines.core.artifacts import ArtifactPath, artifact_path, child
from monitoring_pipelines.core.errors import MonitoringError, describe_fault
from monitoring_pipelines.core.settings import Settings
from monitoring_pipelines.core.store.database import Database
from monitoring_pipelines.core.store.results import ResultRepository
from monitoring_pipelines.web import csrf

# Reports carry their plots as data: URIs and their style inline, and no page runs a script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
    "style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def default_runbooks_dir() -> Path:
    """The repository's ``docs/runbooks`` beside the package."""
    return Path(__file__).resolve().parents[2] / "docs" / "runbooks"


@dataclass
class WebState:
    """What the routes share: settings, where reports and runbooks are, the result store."""

    settings: Settings
    reports_dir: ArtifactPath
    runbooks_dir: Path
    templates: Environment
    _database: Database | None = field(default=None, repr=False)

    def database(self) -> Database:
        """The result store's database, opened on first use (a page without it never opens it)."""
        if self._database is None:
            self._database = Database.connect(self.settings.store_url)
        return self._database

    def results(self) -> ResultRepository:
        """The assets' stored results."""
        return ResultRepository(self.database())

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()
            self._database = None


def state(request: Request) -> WebState:
    """The application's shared state."""
    web: WebState = request.app.state.web
    return web


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """A page from ``templates/``, every value escaped, with the CSRF token its forms send."""
    web = state(request)
    page = web.templates.get_template(template).render(
        csrf_token=csrf.token_of(request),
        csrf_field=csrf.FIELD,
        dagster_url=web.settings.dagster_url,
        **values,
    )
    response = HTMLResponse(page, status_code=status_code)
    csrf.remember(request, response)
    return response


def create_app(
    settings: Settings | None = None,
    *,
    reports_dir: Path | None = None,
    runbooks_dir: Path | None = None,
) -> FastAPI:
    """The web server's application.

    Args:
        settings: Paths and URLs (from the environment by default).
        reports_dir: The daily reports (default ``$MONITORING_HOME/reports``, or ``reports``
            under ``MONITORING_ARTIFACTS_URL``).
        runbooks_dir: The runbooks' Markdown files (default the repository's ``docs/runbooks``).
    """
    from monitoring_pipelines.web import incidents, pages, review

    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.web.close()

    app = FastAPI(
        title="monitoring-pipelines",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.web = WebState(
        settings=settings,
        reports_dir=reports_dir or artifact_path(child(settings.artifacts, "reports")),
        runbooks_dir=runbooks_dir or default_runbooks_dir(),
        templates=Environment(
            loader=PackageLoader("monitoring_pipelines.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        ),
    )
    app.include_router(pages.router)
    app.include_router(review.router)
    app.include_router(incidents.router)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            return PlainTextResponse("method not allowed", status_code=405)
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no page at {request.url.path}."
        return render(request, "error.html", exc.status_code, status=exc.status_code, detail=detail)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(MonitoringError)
    async def store_fault(request: Request, exc: Exception) -> Response:
        # One line without SQL, parameters or passwords (describe_fault), never a traceback.
        detail = f"The result store cannot be read or written: {describe_fault(exc)}"
        return render(request, "error.html", 503, status=503, detail=detail)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return render(request, "error.html", 400, status=400, detail=f"Bad request: {problems}")

    return app
