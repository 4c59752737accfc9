"""The index, the daily reports at stable URLs, and the runbooks rendered from Markdown."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.responses import Response

from monitoring_pipelines.core.artifacts import ArtifactPath
from monitoring_pipelines.web.app import render, state

router = APIRouter()

# Runbooks are the project's own files; raw HTML in them is shown as text all the same.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def report_days(reports: ArtifactPath) -> dict[str, list[str]]:
    """The reports on disk: monitor -> its days, newest first."""
    found: dict[str, list[str]] = {}
    if not reports.is_dir():
        return found
    for folder in sorted(p for p in reports.iterdir() if p.is_dir()):
        days = sorted((f.stem for f in folder.glob("*.html") if _is_day(f.stem)), reverse=True)
        if days:
            found[folder.name] = days
    return found


def runbook_names(folder: Path) -> list[str]:
    """The runbooks: each ``<name>.md`` of the folder."""
    return sorted(p.stem for p in folder.glob("*.md")) if folder.is_dir() else []


@router.get("/healthz", include_in_schema=False)
def health() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/")
def index(request: Request) -> Response:
    web = state(request)
    return render(
        request,
        "index.html",
        reports=report_days(web.reports_dir),
        reports_dir=str(web.reports_dir),
        runbooks=runbook_names(web.runbooks_dir),
    )


@router.get("/reports")
def reports(request: Request) -> Response:
    return RedirectResponse("/#reports", status_code=303)


@router.get("/reports/{monitor}/{day}")
def report(request: Request, monitor: str, day: str) -> Response:
    """The monitor's report of ``day`` (``YYYY-MM-DD``, optionally ``.html``)."""
    web = state(request)
    day = day.removesuffix(".html")
    if not _is_day(day):
        raise HTTPException(400, f"'{day}' is not a day; expected YYYY-MM-DD, e.g. 2026-10-07.")
    days = report_days(web.reports_dir)
    if monitor not in days or day not in days[monitor]:
        known = ", ".join(days) or "none yet"
        return render(
            request,
            "report_missing.html",
            404,
            monitor=monitor,
            day=day,
            known_monitor=monitor in days,
            monitors=known,
            latest=days.get(monitor, [])[:1],
        )
    # The path is built from names listed on disk, never from the URL's text.
    path = web.reports_dir / monitor / f"{day}.html"
    if not isinstance(path, Path):
        return Response(path.read_bytes(), media_type="text/html; charset=utf-8")
    return FileResponse(path, media_type="text/html; charset=utf-8")


@router.get("/runbooks")
def runbooks(request: Request) -> Response:
    return RedirectResponse("/#runbooks", status_code=303)


@router.get("/runbooks/{name}")
def runbook(request: Request, name: str) -> Response:
    """A runbook, ``/runbooks/feature_drift`` or ``/runbooks/feature_drift.md``."""
    web = state(request)
    stem = name.removesuffix(".md")
    names = runbook_names(web.runbooks_dir)
    if stem not in names:
        raise HTTPException(
            404, f"There is no runbook '{stem}'. Runbooks: {', '.join(names) or 'none'}."
        )
    text = (web.runbooks_dir / f"{stem}.md").read_text(encoding="utf-8")
    return render(request, "runbook.html", name=stem, body=Markup(_MARKDOWN.render(text)))


def _is_day(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
