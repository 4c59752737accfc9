"""Slack messages (Block Kit) for incidents: pure functions of the incident and the finding.

Every string that comes from data (titles naming subjects and segment values, findings'
summaries, monitors, partitions) enters a message through ``escape_mrkdwn`` (or
``escape_plain_text`` in a header), so a value such as ``<!channel>`` or ``*x*`` is shown as
written instead of pinging a channel or formatting the message; the product's own markup and
links are written around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from monitoring_pipelines.core.alerting.model import Alert, AlertKind, Evaluation, Incident
from monitoring_pipelines.core.catalog import check as check_entry
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.notify.mrkdwn import escape_mrkdwn as md
from monitoring_pipelines.core.notify.mrkdwn import escape_plain_text, head
from monitoring_pipelines.core.wording import count

ICON = {Severity.CRITICAL: ":red_circle:", Severity.WARN: ":large_orange_circle:"}
MAX_HEADER = 150  # characters of a header block's text
MAX_SECTION = 2900  # characters of a section's text (Slack allows 3000)


@dataclass(frozen=True)
class Links:
    """Where a reader goes next.

    Attributes:
        dagster_url: The Dagster UI (``MONITORING_DAGSTER_URL``).
        runbook_base_url: Where the runbooks are (``alerts.runbook_base_url``); without it,
            the web server's ``/runbooks``.
        web_url: The web server of reports, runbooks and reviews (``MONITORING_WEB_URL``);
            ``None``: no report link, and runbooks only from ``runbook_base_url``.
    """

    dagster_url: str
    runbook_base_url: str | None
    web_url: str | None = None

    def asset(self, asset: str, partition: str) -> str:
        """The asset's page in Dagster, on ``partition`` when given.

        Dagster's asset page opens on its overview, which shows the latest materialization
        whatever the query says; its Partitions tab selects the ``partition`` of the query
        and shows that day's materialization, metadata and checks.
        """
        path = "/".join(quote(part, safe="") for part in asset.split("/"))
        query = f"?view=partitions&partition={quote(partition, safe='')}" if partition else ""
        return f"{self.dagster_url}/assets/{path}{query}"

    def run(self, run_id: str) -> str:
        return f"{self.dagster_url}/runs/{quote(run_id, safe='')}"

    def incident(self, incident: Incident) -> str:
        """The incident's asset at its last failing partition."""
        asset = check_entry(incident.check).asset or incident.check
        return self.asset(f"{incident.monitor}/{asset}", incident.last_failing_partition)

    def runbook(self, check: str) -> str | None:
        base = self.runbook_base_url or (f"{self.web_url}/runbooks" if self.web_url else None)
        if not base:
            return None
        return f"{base.rstrip('/')}/{check_entry(check).runbook}"

    def report(self, monitor: str, partition: str) -> str | None:
        """The monitor's daily report of ``partition`` on the web server."""
        if not self.web_url or not partition:
            return None
        return f"{self.web_url}/reports/{quote(monitor, safe='')}/{quote(partition, safe='')}"


def incident_title(monitor: str, check: str, subject: str) -> str:
    """``recommender: input drift in user_age``; a segment reads ``... for tenant=acme``."""
    entry = check_entry(check)
    what = entry.title
    if subject == WHOLE:
        return f"{monitor}: {what}"
    if subject in entry.subject_titles:
        return f"{monitor}: {entry.subject_titles[subject]}"
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
        return {**_opened(incident, evaluation, finding, links), **_facts(evaluation, finding)}
    opened = _opened(incident, evaluation, finding, links)
    if kind is AlertKind.UPDATE:
        # A member's update counts its own failing days (the root's may have stopped).
        reply = _updated(joined or incident, evaluation, finding, links)
        standalone = dict(opened)
    elif kind is AlertKind.JOIN:
        member = joined or incident
        reply = _joined(member, evaluation, finding, links)
        later = member.first_partition > incident.first_partition
        if later and _RANK[finding.severity] > _RANK[incident.severity]:
            # A graver check joining the thread on a later day: the channel sees it too (on
            # the thread's first day, its first message already names what drives it).
            reply["broadcast"] = True
        standalone = dict(opened)
    else:
        reply = _resolved(incident, evaluation, links)
        header = f":white_check_mark: RESOLVED · {escape_plain_text(incident.title)}"
        standalone = {
            "text": reply["text"],
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": head(header, MAX_HEADER)},
                },
                *reply["blocks"],
            ],
        }
    return {**reply, "standalone": standalone, **_facts(evaluation, finding)}


_RANK = {Severity.WARN: 0, Severity.CRITICAL: 1}


def _facts(evaluation: Evaluation, finding: Finding) -> dict[str, Any]:
    """What the alert is about, kept beside the message (not sent) so a grouped message
    (a backfill's summary) can give each incident's numbers."""
    return {"finding": finding.to_dict(), "partition": evaluation.partition}


class Revision(StrEnum):
    """Why an incident changed other than by its next partition (partitions recorded late, or
    run again): said in its thread, so what was sent stays true."""

    SPLIT = "split"  # it bridged episodes that partitions recorded late show apart
    CORRECTED = "corrected"  # a resolved incident's extent or resolution moved
    REOPENED = "reopened"  # failing again before its resolution held
    MERGED = "merged"  # the same episode as another incident: it resolves into that one
    CLEARED = "cleared"  # every failing partition passed when run again


def revision_message(
    revision: Revision,
    incident: Incident,
    evaluation: Evaluation,
    finding: Finding,
    links: Links,
    others: Sequence[Incident] = (),
) -> dict[str, Any]:
    """A reply saying how ``incident`` changed (for MERGED and CLEARED, ``incident`` as it was
    before); ``others`` are the incidents split off it, or the one it merged into."""
    extent = f"{_span(incident)} ({_failing(incident)})"
    state = (
        f"resolved through {md(str(incident.resolved_partition))}"
        if not incident.active
        else "still open"
    )
    ids = ", ".join(f"#{i.id} ({_span(i)})" for i in others)
    if revision is Revision.SPLIT:
        text = (
            f"Split by partitions recorded late: this incident is {extent}, {state}; "
            f"the later failures are incident {ids}"
        )
    elif revision is Revision.CORRECTED:
        text = (
            f"Corrected by partitions recorded late: {md(incident.title)} failed {extent} and "
            f"passed on every partition after it through {md(str(incident.resolved_partition))}"
        )
    elif revision is Revision.REOPENED:
        text = (
            f"Reopened ({md(check_entry(incident.check).title)}): failing again on "
            f"{md(evaluation.partition)}: {md(finding.summary)} "
            f"({_failing(incident)} since {md(incident.first_partition)})"
        )
    elif revision is Revision.MERGED:
        text = (
            f"Resolved: {md(incident.title)} ({extent}) is one episode with incident {ids}, "
            "where its updates continue"
        )
    else:
        text = (
            f"Resolved: {md(incident.title)}: every failing partition ({_span(incident)}) "
            "passed when run again"
        )
    icon = ":white_check_mark:" if revision in (Revision.MERGED, Revision.CLEARED) else ":pencil2:"
    reply = {
        "text": text,
        "blocks": [
            {"type": "section", "text": _mrkdwn(f"{icon} {text}")},
            _links_block(evaluation, links, incident.check),
        ],
    }
    if revision in (Revision.MERGED, Revision.CLEARED):
        header = f":white_check_mark: RESOLVED · {escape_plain_text(incident.title)}"
        standalone = {
            "text": text,
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": head(header, MAX_HEADER)},
                },
                *reply["blocks"],
            ],
        }
    else:
        standalone = _opened(incident, evaluation, finding, links)
    return {**reply, "standalone": standalone}


def _opened(
    incident: Incident, evaluation: Evaluation, finding: Finding, links: Links
) -> dict[str, Any]:
    severity = incident.severity
    header = f"{ICON[severity]} {severity.value.upper()} · {escape_plain_text(incident.title)}"
    fields = [
        ("Monitor", f"`{md(incident.monitor)}`"),
        ("Check", f"`{md(incident.check)}`"),
        ("Partition" if _single(incident) else "Partitions", _span(incident)),
        ("Failing partitions", f"{incident.failing_partitions:,}"),
    ]
    if finding.value is not None and finding.threshold is not None:
        fields.append(("Value / threshold", f"{_num(finding.value)} / {_num(finding.threshold)}"))
    if incident.subject != WHOLE:
        fields.append(("Subject", f"`{md(incident.subject)}`"))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": head(header, MAX_HEADER), "emoji": True},
        },
        {"type": "section", "text": _mrkdwn(f"*{head(md(finding.summary), MAX_SECTION - 2)}*")},
        {"type": "section", "fields": [_mrkdwn(f"*{k}*\n{v}") for k, v in fields]},
        _links_block(evaluation, links, incident.check),
        {
            "type": "context",
            "elements": [
                _mrkdwn(
                    f"Incident #{incident.id} · updates follow in this thread · "
                    f"`monitoring incidents ack {incident.id}` to acknowledge"
                )
            ],
        },
    ]
    text = f"[{severity.value.upper()}] {md(incident.title)}: {md(finding.summary)}"
    return {"text": text, "blocks": blocks}


def _updated(
    incident: Incident, evaluation: Evaluation, finding: Finding, links: Links
) -> dict[str, Any]:
    text = (
        f"Still failing on {md(evaluation.partition)}: {md(finding.summary)} "
        f"({_failing(incident)} since {md(incident.first_partition)})"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": _mrkdwn(f"{ICON[finding.severity]} {text}")},
            _links_block(evaluation, links, incident.check),
        ],
    }


def _joined(
    member: Incident, evaluation: Evaluation, finding: Finding, links: Links
) -> dict[str, Any]:
    check = check_entry(member.check).title
    text = f"Also failing since {md(member.first_partition)} ({md(check)}): {md(finding.summary)}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": _mrkdwn(f"{ICON[finding.severity]} {text}")},
            _links_block(evaluation, links, member.check),
        ],
    }


def _resolved(incident: Incident, evaluation: Evaluation, links: Links) -> dict[str, Any]:
    text = (
        f"Resolved: {md(incident.title)} passed on every partition after "
        f"{md(incident.last_failing_partition)} through {md(str(incident.resolved_partition))} "
        f"({_failing(incident)} from {md(incident.first_partition)})"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": _mrkdwn(f":white_check_mark: {text}")},
            _links_block(evaluation, links, incident.check),
        ],
    }


def _links_block(evaluation: Evaluation, links: Links, check: str) -> dict[str, Any]:
    parts = [
        f"<{links.asset(evaluation.asset, evaluation.partition)}|Asset in Dagster>",
        f"<{links.run(evaluation.run_id)}|Run>",
    ]
    report = links.report(evaluation.monitor, evaluation.partition)
    if report:
        parts.append(f"<{report}|Report>")
    runbook = links.runbook(check)
    if runbook:
        parts.append(f"<{runbook}|Runbook>")
    return {"type": "context", "elements": [_mrkdwn(" · ".join(parts))]}


def _mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object; ``verbatim`` keeps Slack from turning a bare URL, channel name or
    ``@here`` in a value into a link or a mention (the product writes its links itself)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _num(value: float) -> str:
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    if abs(value) < 1:
        return f"{value:.3f}"
    return f"{value:,.1f}"


# -- grouped and repeated messages ---------------------------------------------------------

MAX_LISTED = 20  # incidents listed in a summary or digest; the rest are counted


def summary_message(
    backfill_id: str, alerts: Sequence[Alert], incidents: Mapping[int, Incident]
) -> dict[str, Any]:
    """One message for everything a backfill's runs found: each incident with its own failing
    days and its strongest finding, and where it stands.

    The incidents listed that have no thread yet take this message as theirs
    (``incident_ids``), so their later updates and resolutions are replies to it.
    """
    monitors = sorted({a.monitor for a in alerts})
    listed = _listed(alerts, incidents)
    still_open = [i for i in listed if i.active]
    text = (
        f"Backfill {md(backfill_id)} of {md(', '.join(monitors))}: "
        f"{count(len(listed), 'incident')}, {len(still_open)} still open"
    )
    return _grouped(
        text,
        ":card_index_dividers: Backfill summary",
        listed,
        "Alerts of backfilled partitions are not sent one by one; updates of the incidents "
        "still open follow in this thread.",
        _strongest(alerts),
    )


def digest_message(
    monitor: str, day: str, limit: int, alerts: Sequence[Alert], incidents: Mapping[int, Incident]
) -> dict[str, Any]:
    """The alerts of a monitor past its daily page budget, in one message."""
    listed = _listed(alerts, incidents)
    text = (
        f"{md(monitor)}: {count(len(listed), 'more incident')} on {md(day)}, past the budget of "
        f"{count(limit, 'page')} a day"
    )
    return _grouped(
        text,
        f":bellhop_bell: Digest · {escape_plain_text(monitor)}",
        listed,
        f"alerts.max_pages_per_day is {limit}: further incidents today are grouped here; their "
        "updates follow in this thread.",
        _strongest(alerts),
    )


def reminder_message(
    incident: Incident, links: Links, hours: float, now: datetime
) -> dict[str, Any]:
    """A critical incident still open and unacknowledged, said again in its thread (and the
    channel)."""
    age = now - incident.opened_at
    days = age.total_seconds() / 86_400
    text = (
        f"{ICON[incident.severity]} Still open after {days:.1f} days and not acknowledged: "
        f"{md(incident.title)} ({_failing(incident)}, {_span(incident)}). "
        f"Reminders every {hours:g} h until `monitoring incidents ack {incident.id}`."
    )
    elements = [_mrkdwn(f"<{links.incident(incident)}|Asset in Dagster>")]
    runbook = links.runbook(incident.check)
    if runbook:
        elements.append(_mrkdwn(f"<{runbook}|Runbook>"))
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": _mrkdwn(text)},
            {"type": "context", "elements": elements},
        ],
        "broadcast": True,
    }


def pagerduty_event(
    action: str, incident: Incident, finding: Finding | None, links: Links, source: str
) -> dict[str, Any]:
    """The stored form of a PagerDuty event (trigger or resolve) for a root incident."""
    event: dict[str, Any] = {"action": action, "dedup_key": pagerduty_key(incident)}
    if action == "trigger":
        event |= {
            "summary": f"{incident.title}: {finding.summary if finding else ''}".rstrip(": "),
            "severity": incident.severity.value,
            "source": source,
            "component": incident.monitor,
            "group": incident.check,
            "class": incident.check,
            "custom_details": {
                "incident": incident.id,
                "partitions": f"{incident.first_partition} → {incident.last_failing_partition}",
                "failing_partitions": incident.failing_partitions,
                "subject": incident.subject,
                "value": finding.value if finding else None,
                "threshold": finding.threshold if finding else None,
            },
            "links": [
                link
                for link in (
                    {"href": links.incident(incident), "text": "Asset in Dagster"},
                    {
                        "href": links.report(incident.monitor, incident.last_failing_partition),
                        "text": "Report",
                    },
                    {"href": links.runbook(incident.check), "text": "Runbook"},
                )
                if link["href"]
            ],
        }
    return {"text": f"PagerDuty {action}: {incident.title}", "pagerduty": event}


def pagerduty_key(incident: Incident) -> str:
    """The PagerDuty alert of an incident (a resolved incident's successor gets a new one)."""
    return f"monitoring-pipelines/incident/{incident.id}"


def _listed(alerts: Sequence[Alert], incidents: Mapping[int, Incident]) -> list[Incident]:
    ids = sorted({a.incident_id for a in alerts if a.incident_id is not None})
    return [incidents[i] for i in ids if i in incidents]


def _strongest(alerts: Sequence[Alert]) -> dict[int, tuple[str, Finding]]:
    """Per incident, its alerts' failing finding furthest past its threshold, and its day."""
    best: dict[int, tuple[float, str, Finding]] = {}
    for a in alerts:
        facts = a.message.get("finding")
        if a.incident_id is None or not isinstance(facts, Mapping):
            continue
        try:
            finding = Finding.from_dict(facts)
        except (KeyError, TypeError, ValueError):
            continue  # a message stored by an older release: listed without its numbers
        if finding.passed:
            continue
        day = str(a.message.get("partition") or a.partition)
        held = best.get(a.incident_id)
        if held is None or (_past(finding), day) > held[:2]:
            best[a.incident_id] = (_past(finding), day, finding)
    return {i: (day, finding) for i, (_, day, finding) in best.items()}


def _past(finding: Finding) -> float:
    """How far past its threshold a finding is (0 when it has no numbers)."""
    value, threshold = finding.value, finding.threshold
    if value is None or threshold is None or threshold == 0:
        return 0.0
    return abs(value / threshold)


def _grouped(
    text: str,
    header: str,
    listed: Sequence[Incident],
    note: str,
    strongest: Mapping[int, tuple[str, Finding]],
) -> dict[str, Any]:
    lines = []
    for i in listed[:MAX_LISTED]:
        state = "open" if i.active else f"resolved after {md(str(i.resolved_partition))}"
        line = f"{ICON[i.severity]} #{i.id} {md(i.title)} · {_span(i)} ({_failing(i)}) · {state}"
        if i.id in strongest:
            day, finding = strongest[i.id]
            line += f"\n      strongest on {md(day)}: {md(finding.summary)}"
        lines.append(line)
    if len(listed) > MAX_LISTED:
        lines.append(f"… and {len(listed) - MAX_LISTED} more: `monitoring incidents`")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "text": _mrkdwn(f"*{text}*")},
    ]
    # A section's text holds at most 3000 characters: the lines go in sections that fit.
    section: list[str] = []
    for line in lines:
        line = head(line, MAX_SECTION)
        if section and sum(len(x) + 1 for x in section) + len(line) > MAX_SECTION:
            blocks.append({"type": "section", "text": _mrkdwn("\n".join(section))})
            section = []
        section.append(line)
    if section:
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(section))})
    blocks.append({"type": "context", "elements": [_mrkdwn(note)]})
    return {"text": text, "blocks": blocks, "incident_ids": [i.id for i in listed if i.active]}


def _failing(incident: Incident) -> str:
    return count(incident.failing_partitions, "failing partition")


def _single(incident: Incident) -> bool:
    return incident.first_partition == incident.last_failing_partition


def _span(incident: Incident) -> str:
    """The incident's failing partitions, escaped for mrkdwn."""
    if incident.first_partition == incident.last_failing_partition:
        return md(incident.first_partition)
    return f"{md(incident.first_partition)} → {md(incident.last_failing_partition)}"
