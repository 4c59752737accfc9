"""Block Kit messages for incident events: pure functions of the incident and the finding."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from monitoring_pipelines.cli.operations import outbox_line
from monitoring_pipelines.core.alerting.messages import (
    Links,
    build_message,
    incident_title,
    summary_message,
)
from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Incident,
    IncidentStatus,
)
from monitoring_pipelines.core.catalog import ROWS_WITHOUT_DAY
from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.notify.slack import fit_to_limits

AT = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
DAGSTER = "http://dagster.example:3000"
RUNBOOKS = "https://wiki.example/runbooks/"
LINKS = Links(DAGSTER, RUNBOOKS)
NO_RUNBOOK = Links(DAGSTER, None)
FINDING = Finding("amount", False, Severity.CRITICAL, 0.3142, 0.2, "PSI 0.314 on amount")


def make_incident(**overrides: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": 17,
        "fingerprint": "fraud/feature_drift/amount",
        "monitor": "fraud",
        "check": "feature_drift",
        "subject": "amount",
        "status": IncidentStatus.OPEN,
        "severity": Severity.CRITICAL,
        "first_partition": "2026-03-05",
        "last_failing_partition": "2026-03-07",
        "failing_partitions": 3,
        "resolved_partition": None,
        "title": incident_title("fraud", "feature_drift", "amount"),
        "opened_at": AT,
        "updated_at": AT,
        "resolved_at": None,
        "acknowledged_by": None,
        "slack_channel": None,
        "slack_ts": None,
    }
    return Incident(**(fields | overrides))


def make_evaluation(partition: str = "2026-03-07", **overrides: Any) -> Evaluation:
    fields: dict[str, Any] = {
        "run_id": "9f1c2e7a-run",
        "monitor": "fraud",
        "asset": "fraud/feature_drift",
        "check": "feature_drift",
        "partition": partition,
        "findings": (FINDING,),
        "evaluated_at": AT,
    }
    return Evaluation(**(fields | overrides))


def all_texts(message: dict[str, Any]) -> str:
    """Every text in the blocks, one per line."""
    out: list[str] = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields") or []]
        out += [e["text"] for e in block.get("elements") or [] if "text" in e]
    return "\n".join(out)


def link_targets(message: dict[str, Any]) -> dict[str, str]:
    """Label -> URL of the mrkdwn links ``<url|label>``."""
    return {label: url for url, label in re.findall(r"<([^|>]+)\|([^>]+)>", all_texts(message))}


def fields_of(message: dict[str, Any]) -> dict[str, str]:
    [section] = [b for b in message["blocks"] if b.get("fields")]
    pairs = (f["text"].split("\n", 1) for f in section["fields"])
    return {name.strip("*"): value for name, value in pairs}


# -- open --------------------------------------------------------------------------------------


def test_title_names_monitor_check_and_subject() -> None:
    assert incident_title("fraud", "feature_drift", "amount") == "fraud: input drift in amount"
    assert incident_title("bot", "latency_slo", WHOLE) == "bot: latency above SLO"
    assert incident_title("bot", "new_check", WHOLE) == "bot: new check"
    # A finding about something other than a column is named, not read as a column.
    assert incident_title("bot", "malformed_rows", ROWS_WITHOUT_DAY) == (
        "bot: rows of the table that no day reads"
    )


def test_open_message_has_a_header_with_severity_and_title() -> None:
    message = build_message(AlertKind.OPEN, make_incident(), make_evaluation(), FINDING, LINKS)

    header = message["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert "CRITICAL" in header["text"]["text"]
    assert ":red_circle:" in header["text"]["text"]
    assert "fraud: input drift in amount" in header["text"]["text"]
    assert len(header["text"]["text"]) <= 150


def test_open_message_fields_carry_monitor_check_partitions_and_numbers() -> None:
    message = build_message(AlertKind.OPEN, make_incident(), make_evaluation(), FINDING, LINKS)

    fields = fields_of(message)
    assert fields["Monitor"] == "`fraud`"
    assert fields["Check"] == "`feature_drift`"
    assert fields["Partitions"] == "2026-03-05 → 2026-03-07"
    assert fields["Failing partitions"] == "3"
    assert fields["Value / threshold"] == "0.314 / 0.200"
    assert fields["Subject"] == "`amount`"
    assert "PSI 0.314 on amount" in all_texts(message)


def test_open_message_on_one_partition_names_it_once() -> None:
    incident = make_incident(first_partition="2026-03-07", failing_partitions=1)
    message = build_message(AlertKind.OPEN, incident, make_evaluation(), FINDING, LINKS)
    assert fields_of(message)["Partition"] == "2026-03-07"


def test_open_message_without_numbers_or_subject_leaves_those_fields_out() -> None:
    finding = Finding(WHOLE, False, Severity.WARN, None, None, "step failed: table missing")
    incident = make_incident(
        subject=WHOLE, check="run_failure", severity=Severity.WARN, title="fraud: failed"
    )
    message = build_message(AlertKind.OPEN, incident, make_evaluation(), finding, LINKS)

    fields = fields_of(message)
    assert "Value / threshold" not in fields
    assert "Subject" not in fields
    assert "WARN" in message["blocks"][0]["text"]["text"]
    assert ":large_orange_circle:" in message["blocks"][0]["text"]["text"]


def test_open_message_links_to_the_partition_the_run_and_the_runbook() -> None:
    message = build_message(AlertKind.OPEN, make_incident(), make_evaluation(), FINDING, LINKS)

    links = link_targets(message)
    assert links["Asset in Dagster"] == (
        f"{DAGSTER}/assets/fraud/feature_drift?view=partitions&partition=2026-03-07"
    )
    assert links["Run"] == f"{DAGSTER}/runs/9f1c2e7a-run"
    assert links["Runbook"] == "https://wiki.example/runbooks/feature_drift.md"


def test_no_runbook_link_without_a_runbook_base_url() -> None:
    for kind in AlertKind:
        message = build_message(kind, make_incident(), make_evaluation(), FINDING, NO_RUNBOOK)
        links = link_targets(message)
        assert "Runbook" not in links, kind
        assert "Run" in links and "Asset in Dagster" in links, kind


def test_asset_link_quotes_path_parts_and_partition() -> None:
    evaluation = make_evaluation(asset="my model/drift v2", partition="2026-03-07|eu")
    message = build_message(AlertKind.UPDATE, make_incident(), evaluation, FINDING, LINKS)
    assert link_targets(message)["Asset in Dagster"] == (
        f"{DAGSTER}/assets/my%20model/drift%20v2?view=partitions&partition=2026-03-07%7Ceu"
    )


def test_unpartitioned_asset_link_has_no_partition_query() -> None:
    message = build_message(
        AlertKind.OPEN, make_incident(), make_evaluation(partition=""), FINDING, LINKS
    )
    assert link_targets(message)["Asset in Dagster"] == f"{DAGSTER}/assets/fraud/feature_drift"


def test_open_message_context_tells_how_to_acknowledge() -> None:
    message = build_message(AlertKind.OPEN, make_incident(), make_evaluation(), FINDING, LINKS)
    assert "monitoring incidents ack 17" in all_texts(message)


def test_fallback_text_names_severity_title_and_summary() -> None:
    message = build_message(AlertKind.OPEN, make_incident(), make_evaluation(), FINDING, LINKS)
    assert message["text"] == "[CRITICAL] fraud: input drift in amount: PSI 0.314 on amount"


def test_header_of_a_long_title_is_cut_to_slacks_limit() -> None:
    long_subject = "feature_" + "x" * 300
    incident = make_incident(
        subject=long_subject, title=incident_title("fraud", "feature_drift", long_subject)
    )
    message = build_message(AlertKind.OPEN, incident, make_evaluation(), FINDING, LINKS)
    header = message["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.startswith(":red_circle: CRITICAL")


@pytest.mark.parametrize(
    ("value", "shown"), [(0.004321, "0.0043"), (0.5, "0.500"), (1234.56, "1,234.6")]
)
def test_numbers_are_shown_at_a_readable_precision(value: float, shown: str) -> None:
    finding = replace(FINDING, value=value, threshold=value)
    message = build_message(AlertKind.OPEN, make_incident(), make_evaluation(), finding, LINKS)
    assert fields_of(message)["Value / threshold"] == f"{shown} / {shown}"


# -- update and resolve ------------------------------------------------------------------------


def test_update_message_names_the_new_partition_and_the_running_count() -> None:
    incident = make_incident(last_failing_partition="2026-03-08", failing_partitions=4)
    evaluation = make_evaluation("2026-03-08")
    finding = replace(FINDING, severity=Severity.WARN, summary="PSI 0.25 on amount")

    message = build_message(AlertKind.UPDATE, incident, evaluation, finding, LINKS)

    assert message["text"] == (
        "Still failing on 2026-03-08: PSI 0.25 on amount (4 failing partitions since 2026-03-05)"
    )
    assert not any(b["type"] == "header" for b in message["blocks"])
    assert message["blocks"][0]["text"]["text"].startswith(":large_orange_circle: Still failing")
    links = link_targets(message)
    assert links["Asset in Dagster"].endswith("&partition=2026-03-08")
    assert links["Runbook"].endswith("/feature_drift.md")


def test_resolve_message_names_the_quiet_partitions() -> None:
    incident = make_incident(
        status=IncidentStatus.RESOLVED, resolved_partition="2026-03-10", resolved_at=AT
    )
    evaluation = make_evaluation("2026-03-10")
    passing = replace(FINDING, passed=True, value=0.01, summary="PSI 0.01 on amount")

    message = build_message(AlertKind.RESOLVE, incident, evaluation, passing, LINKS)

    assert message["text"] == (
        "Resolved: fraud: input drift in amount passed on every partition after 2026-03-07 "
        "through 2026-03-10 (3 failing partitions from 2026-03-05)"
    )
    assert message["blocks"][0]["text"]["text"].startswith(":white_check_mark: Resolved")
    assert link_targets(message)["Asset in Dagster"].endswith("&partition=2026-03-10")


# -- Slack's limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("subject", ["amount", "feature_" + "y" * 400])
def test_messages_are_within_slack_limits_as_built(kind: AlertKind, subject: str) -> None:
    incident = make_incident(
        subject=subject,
        title=incident_title("fraud", "feature_drift", subject),
        resolved_partition="2026-03-10" if kind is AlertKind.RESOLVE else None,
    )
    finding = replace(FINDING, subject=subject, summary=f"PSI 0.314 on {subject}")
    message = build_message(kind, incident, make_evaluation(), finding, LINKS)

    assert message["text"]
    assert message["blocks"]
    text, blocks = fit_to_limits(message["text"], message["blocks"])
    assert text == message["text"]
    assert blocks == message["blocks"]


def test_messages_are_plain_json() -> None:
    for kind in AlertKind:
        message = build_message(kind, make_incident(), make_evaluation(), FINDING, LINKS)
        assert json.loads(json.dumps(message)) == message


def test_titles_name_the_segment_of_a_segment_finding() -> None:
    from monitoring_pipelines.core.alerting.messages import incident_title

    assert incident_title("bot", "latency_slo", "") == "bot: latency above SLO"
    assert incident_title("rec", "feature_drift", "age") == "rec: input drift in age"
    assert (
        incident_title("rec", "feature_drift", "age@model_version=v2")
        == "rec: input drift in age for model_version=v2"
    )
    assert (
        incident_title("clf", "performance", "performance@tenant=acme")
        == "clf: performance drop for tenant=acme"
    )


# -- plain terms --------------------------------------------------------------------------------


def test_one_failing_partition_is_singular() -> None:
    incident = make_incident(first_partition="2026-03-07", failing_partitions=1)
    message = build_message(AlertKind.UPDATE, incident, make_evaluation(), FINDING, LINKS)
    assert message["text"].endswith("(1 failing partition since 2026-03-07)")


def test_an_update_of_a_joined_problem_counts_its_own_failing_partitions() -> None:
    root = make_incident(failing_partitions=1, last_failing_partition="2026-03-05")
    member = make_incident(id=18, parent_id=17, failing_partitions=4, first_partition="2026-03-04")
    message = build_message(
        AlertKind.UPDATE, root, make_evaluation(), FINDING, LINKS, joined=member
    )
    assert message["text"].endswith("(4 failing partitions since 2026-03-04)")


def alert_of(message: dict[str, Any], incident_id: int, partition: str) -> Alert:
    return Alert(
        id=incident_id * 100 + int(partition[-2:]), alert_key=f"{incident_id}|{partition}",
        incident_id=incident_id, kind=AlertKind.UPDATE, fingerprint="f", monitor="fraud",
        check="feature_drift", subject="amount", partition=partition,
        severity=Severity.CRITICAL, title="t", message=message, channel=None,
        status=DeliveryStatus.DIGESTED, reason=None, attempts=0, next_attempt_at=None,
        last_error=None, created_at=AT, claimed_at=None, sent_at=None, slack_ts=None,
        backfill_id="bf-9",
    )  # fmt: skip


def test_a_backfill_summary_lists_each_incident_with_its_days_and_strongest_numbers() -> None:
    amount = make_incident()
    latency = make_incident(
        id=21, subject=WHOLE, check="latency_slo", severity=Severity.WARN,
        title="fraud: latency above SLO", first_partition="2026-03-01",
        last_failing_partition="2026-03-01", failing_partitions=1,
        status=IncidentStatus.RESOLVED, resolved_partition="2026-03-04",
    )  # fmt: skip
    alerts = []
    for day, value in (("2026-03-05", 0.25), ("2026-03-06", 0.41), ("2026-03-07", 0.3)):
        finding = replace(FINDING, value=value, summary=f"amount: mean moved; wasserstein {value}")
        message = build_message(AlertKind.UPDATE, amount, make_evaluation(day), finding, LINKS)
        alerts.append(alert_of(message, 17, day))
    slow = Finding(WHOLE, False, Severity.WARN, 296.0, 200.0, "p95 latency 296 ms > SLO 200 ms")
    message = build_message(AlertKind.OPEN, latency, make_evaluation("2026-03-01"), slow, LINKS)
    alerts.append(alert_of(message, 21, "2026-03-01"))

    summary = summary_message("bf-9", alerts, {17: amount, 21: latency})

    assert summary["text"] == "Backfill bf-9 of fraud: 2 incidents, 1 still open"
    lines = summary["blocks"][2]["text"]["text"].split("\n")
    assert lines[0].endswith(
        "#17 fraud: input drift in amount · 2026-03-05 → 2026-03-07 (3 failing partitions) · open"
    )
    assert lines[1].strip() == "strongest on 2026-03-06: amount: mean moved; wasserstein 0.41"
    assert lines[2].endswith("· 2026-03-01 (1 failing partition) · resolved after 2026-03-04")
    assert lines[3].strip() == "strongest on 2026-03-01: p95 latency 296 ms ­&gt; SLO 200 ms"
    assert summary["incident_ids"] == [17]


def test_an_empty_outbox_says_so() -> None:
    assert outbox_line({}) == "outbox: empty (no alert stored)"
    assert outbox_line({"sent": 3, "pending": 0, "failed": 1}) == (
        "outbox: 1 failed, 3 sent; `monitoring alerts` lists them"
    )


@pytest.mark.parametrize(
    ("root", "joining", "broadcast"),
    [
        (Severity.WARN, Severity.CRITICAL, True),
        (Severity.WARN, Severity.WARN, False),
        (Severity.CRITICAL, Severity.CRITICAL, False),
        (Severity.CRITICAL, Severity.WARN, False),
    ],
)
def test_a_graver_check_joining_a_thread_is_also_sent_to_the_channel(
    root: Severity, joining: Severity, broadcast: bool
) -> None:
    """A critical SLO breach joining a warning's thread must not stay hidden in the thread."""
    thread = make_incident(severity=root, first_partition="2026-03-01")
    member = make_incident(
        id=18, parent_id=17, check="latency_slo", severity=joining, first_partition="2026-03-07"
    )
    finding = Finding(WHOLE, False, joining, 4179.0, 3500.0, "p95 latency 4179 ms > SLO 3500 ms")
    message = build_message(AlertKind.JOIN, thread, make_evaluation(), finding, LINKS, member)
    assert bool(message.get("broadcast")) is broadcast
    assert message["text"].startswith("Also failing since 2026-03-07")
    # on the thread's own first day, its first message already names what drives it
    same_day = replace(member, first_partition=thread.first_partition)
    message = build_message(AlertKind.JOIN, thread, make_evaluation(), finding, LINKS, same_day)
    assert not message.get("broadcast")
