"""Values from the data inside the plain-terms parts of messages and tables (the category that
moved, a column name) are shown as written: never markup, never a broken line or cell."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitoring_pipelines.core.alerting.messages import Links, build_message, summary_message
from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Incident,
    IncidentStatus,
)
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.drift.engine import ColumnDrift
from monitoring_pipelines.core.drift.shift import Shift
from monitoring_pipelines.core.drift.table import MARKDOWN_MARKERS, markdown
from tests.adversarial.test_message_escaping import HOSTILE, PRODUCT_LINK, shown

AT = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
LINKS = Links("http://dagster.test", "https://wiki.test/runbooks")
TEXT = st.text(min_size=1, max_size=300)


def incident(title: str) -> Incident:
    return Incident(
        id=3, fingerprint="m/feature_drift/product", monitor="m", check="feature_drift",
        subject="product", status=IncidentStatus.OPEN, severity=Severity.CRITICAL,
        first_partition="2026-03-05", last_failing_partition="2026-03-07",
        failing_partitions=3, resolved_partition=None, title=title, opened_at=AT,
        updated_at=AT, resolved_at=None, acknowledged_by=None, slack_channel=None,
        slack_ts=None,
    )  # fmt: skip


def finding_about(category: str) -> Finding:
    moved = Shift("share", 0.1, 0.25, category=category).describe()
    return Finding("product", False, Severity.CRITICAL, 0.3, 0.15, f"product: {moved}")


def mrkdwn_texts(message: dict) -> list[str]:
    out = [message["text"]]
    for block in message["blocks"]:
        if block["type"] == "header":
            continue
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields") or []]
        out += [e["text"] for e in block.get("elements") or [] if "text" in e]
    return out


def assert_inert(text: str) -> None:
    """No control character of Slack's outside the product's own links."""
    bare = PRODUCT_LINK.sub("", text)
    assert "<" not in bare and ">" not in bare.replace("&gt;", ""), bare


@settings(max_examples=60, deadline=None)
@given(TEXT)
@example(HOSTILE)
@example("*mortgage*\n> <!channel>")
def test_the_category_that_moved_reaches_slack_as_text(category: str) -> None:
    finding = finding_about(category)
    evaluation = Evaluation("run-1", "m", "m/feature_drift", "feature_drift", "2026-03-07",
                            (finding,), AT, backfill_id="bf")  # fmt: skip
    opened = build_message(AlertKind.OPEN, incident("m: input drift in product"), evaluation,
                           finding, LINKS)  # fmt: skip
    alert = Alert(
        id=1, alert_key="k", incident_id=3, kind=AlertKind.OPEN, fingerprint="f", monitor="m",
        check="feature_drift", subject="product", partition="2026-03-07",
        severity=Severity.CRITICAL, title="t", message=opened, channel=None,
        status=DeliveryStatus.DIGESTED, reason=None, attempts=0, next_attempt_at=None,
        last_error=None, created_at=AT, claimed_at=None, sent_at=None, slack_ts=None,
    )  # fmt: skip
    summary = summary_message("bf", [alert], {3: incident("m: input drift in product")})
    for message in (opened, summary):
        texts = mrkdwn_texts(message)
        for text in texts:
            assert_inert(text)
        # what a reader sees holds the category as the shift describes it (flattened, cut)
        assert any(finding.summary in shown(t) for t in texts)
    assert "strongest on 2026-03-07: product: " in shown(mrkdwn_texts(summary)[2])


def column_drift(column: str) -> ColumnDrift:
    return ColumnDrift(
        column=column, role="feature", kind="categorical", statistic="jensen_shannon",
        score=0.2, p_value=1e-9, p_adjusted=1e-8, p_value_rows=500, rows=500,
        reference_rows=1000, warn=0.05, critical=0.15, verdict="critical",
        note=f"rows in categories the reference never had: {column}",
        shift=Shift("share", 0.1, 0.3, category=column),
    )  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4))
@example([HOSTILE, "a|b", "x\n\n|---|"])
def test_a_drift_table_in_markdown_keeps_its_shape_whatever_the_names(names: list[str]) -> None:
    results = [column_drift(n) for n in names]
    results.append(replace(column_drift("ok_column"), verdict="ok", score=0.01, shift=None))
    lines = markdown(results, 0.01).split("\n")
    assert len(lines) == len(results) + 2  # header, rule, one line per column
    for line in lines[2:]:
        cells = line.split(" | ")
        assert len(cells) == 6, line
        for cell in cells[1:-1]:
            for i, char in enumerate(cell):
                if char in MARKDOWN_MARKERS and char != "\\":
                    assert cell[i - 1] == "\\", (cell, i)
