"""The incidents, and each one's thread: every message the alerting sent for it, or holds."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from monitoring_pipelines.core.alerting.model import Alert, IncidentStatus
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.web.app import render, state
from monitoring_pipelines.web.messages import message_links, message_parts

router = APIRouter()

STATUSES = ("active", "all", *(s.value for s in IncidentStatus))


def _alerts(request: Request) -> AlertRepository:
    return AlertRepository(state(request).database())


@router.get("/incidents")
def incident_list(request: Request, monitor: str = "", status: str = "active") -> Response:
    if status not in STATUSES:
        raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    everything = _alerts(request).incidents()
    monitors = sorted({i.monitor for i in everything})
    shown = [
        i
        for i in reversed(everything)
        if i.parent_id is None
        and (not monitor or i.monitor == monitor)
        and (status == "all" or (status == "active" and i.active) or i.status.value == status)
    ]
    joined = {i.id: [m for m in everything if m.parent_id == i.id] for i in shown}
    return render(
        request,
        "incidents.html",
        incidents=shown,
        joined=joined,
        monitors=monitors,
        statuses=STATUSES,
        chosen={"monitor": monitor, "status": status},
    )


@router.get("/incidents/{incident_id:int}")
def incident_page(request: Request, incident_id: int) -> Response:
    store = _alerts(request)
    incident = store.get_incident(incident_id)
    if incident is None:
        raise HTTPException(404, f"There is no incident #{incident_id}.")
    root = store.get_incident(incident.root_id) or incident
    members = [i for i in store.incidents(monitor=root.monitor) if i.root_id == root.id]
    thread: list[Alert] = sorted(
        (a for member in members for a in store.alerts(incident_id=member.id)),
        key=lambda a: a.id,
    )
    return render(
        request,
        "incident.html",
        incident=root,
        members=members,
        thread=[(a, message_parts(_text(a)), message_links(a.message)) for a in thread],
        asked=incident,
    )


def _text(alert: Alert) -> str:
    text = alert.message.get("text") or alert.message.get("summary") or alert.title
    return str(text)
