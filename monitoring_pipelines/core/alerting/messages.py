"""Slack messages (Block Kit) for incidents: pure functions of the incident and the finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from monitoring_pipelines.core.alerting.model import AlertKind, Evaluation, Incident
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import Severity

ICON = {Severity.CRITICAL: ":red_circle:", Severity.WARN: ":large_orange_circle:"}
CHECK_TITLES = {
    "feature_drift": "input drift",
    "prediction_drift": "prediction drift",
    "latency_slo": "latency above SLO",
    "error_rate": "error rate above SLO",
    "cost_budget": "cost over budget",
    "volume": "traffic volume",
    "malformed_rows": "malformed rows",
    "duplicate_requests": "duplicate requests",
    "run_failure": "pipeline run failed",
    "hallucination_rate": "hallucination rate",
    "data_quality": "data quality",
    "schema_change": "schema change",
    "performance": "performance drop",
}


@dataclass(frozen=True)
class Links:
    """Where a reader goes next."""

    dagster_url: str
    runbook_base_url: str | None

    def asset(self, asset: str, partition: str) -> str:
        path = "/".join(quote(part) for part in asset.split("/"))
        query = f"?partition={quote(partition)}" if partition else ""
        return f"{self.dagster_url}/assets/{path}{query}"

    def run(self, run_id: str) -> str:
        return f"{self.dagster_url}/runs/{run_id}"

    def runbook(self, check: str) -> str | None:
        if not self.runbook_base_url:
            return None
        return f"{self.runbook_base_url.rstrip('/')}/{check}.md"


def incident_title(monitor: str, check: str, subject: str) -> str:
    """``recommender: input drift in user_age``; a segment reads ``... for tenant=acme``."""
    what = CHECK_TITLES.get(check, check.replace("_", " "))
    if subject == WHOLE:
        return f"{monitor}: {what}"
    column, _, segment = subject.partition("@")
    if not segment:
        return f"{monitor}: {what} in {column}"
    if column == check:
        return f"{monitor}: {what} for {segment}"
    return f"{monitor}: {what} in {column} for {segment}"


def build_message(
    kind: AlertKind,
    incident: Incident,
    evaluation: Evaluation,
    finding: Finding,
    links: Links,
    joined: Incident | None = None,
) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}`` for one incident event.

    Updates and resolutions are thread replies; they also carry a ``standalone`` message with
    the incident's whole context, sent instead when the incident has no thread to reply in
    (its first message was older than the paging horizon, or failed).
    """
    if kind is AlertKind.OPEN:
        return _opened(incident, evaluation, finding, links)
    opened = _opened(incident, evaluation, finding, links)
    if kind is AlertKind.UPDATE:
        reply = _updated(incident, evaluation, finding, links)
        standalone = dict(opened)
    elif kind is AlertKind.JOIN:
        reply = _joined(joined or incident, evaluation, finding, links)
        standalone = dict(opened)
    else:
        reply = _resolved(incident, evaluation, links)
        header = f":white_check_mark: RESOLVED · {incident.title}"
        standalone = {
            "text": reply["text"],
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
                *reply["blocks"],
            ],
        }
    return {**reply, "standalone": standalone}


def _opened(
    incident: Incident, evaluation: Evaluation, finding: Finding, links: Links
) -> dict[str, Any]:
    severity = incident.severity
    header = f"{ICON[severity]} {severity.value.upper()} · {incident.title}"
    partitions = (
        incident.first_partition
        if incident.first_partition == incident.last_failing_partition
        else f"{incident.first_partition} → {incident.last_failing_partition}"
    )
    fields = [
        ("Monitor", f"`{incident.monitor}`"),
        ("Check", f"`{incident.check}`"),
        ("Partition(s)", partitions),
        ("Failing partitions", str(incident.failing_partitions)),
    ]
    if finding.value is not None and finding.threshold is not None:
        fields.append(("Value / threshold", f"{_num(finding.value)} / {_num(finding.threshold)}"))
    if incident.subject != WHOLE:
        fields.append(("Subject", f"`{incident.subject}`"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{finding.summary}*"}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields],
        },
        _links_block(evaluation, links, incident.check),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Incident #{incident.id} · updates follow in this thread · "
                    f"`monitoring incidents ack {incident.id}` to acknowledge",
                }
            ],
        },
    ]
    text = f"[{severity.value.upper()}] {incident.title}: {finding.summary}"
    return {"text": text, "blocks": blocks}


def _updated(
    incident: Incident, evaluation: Evaluation, finding: Finding, links: Links
) -> dict[str, Any]:
    text = (
        f"Still failing on {evaluation.partition}: {finding.summary} "
        f"({incident.failing_partitions} failing partitions since {incident.first_partition})"
    )
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{ICON[finding.severity]} {text}"},
            },
            _links_block(evaluation, links, incident.check),
        ],
    }


def _joined(
    member: Incident, evaluation: Evaluation, finding: Finding, links: Links
) -> dict[str, Any]:
    check = CHECK_TITLES.get(member.check, member.check.replace("_", " "))
    text = f"Also failing since {member.first_partition} ({check}): {finding.summary}"
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{ICON[finding.severity]} {text}"},
            },
            _links_block(evaluation, links, member.check),
        ],
    }


def _resolved(incident: Incident, evaluation: Evaluation, links: Links) -> dict[str, Any]:
    text = (
        f"Resolved: {incident.title} passed on every partition after "
        f"{incident.last_failing_partition} through {incident.resolved_partition} "
        f"({incident.failing_partitions} failing partitions from {incident.first_partition})"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":white_check_mark: {text}"}},
            _links_block(evaluation, links, incident.check),
        ],
    }


def _links_block(evaluation: Evaluation, links: Links, check: str) -> dict[str, Any]:
    parts = [
        f"<{links.asset(evaluation.asset, evaluation.partition)}|Asset in Dagster>",
        f"<{links.run(evaluation.run_id)}|Run>",
    ]
    runbook = links.runbook(check)
    if runbook:
        parts.append(f"<{runbook}|Runbook>")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(parts)}]}


def _num(value: float) -> str:
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    if abs(value) < 1:
        return f"{value:.3f}"
    return f"{value:,.1f}"
