"""Records of the alerting path: check evaluations in, incidents and deliveries out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from monitoring_pipelines.core.checks import WHOLE, Finding
from monitoring_pipelines.core.config import AlertsConfig, Severity


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    """Where an alert is on its way out.

    ``pending`` waits to be sent (or for a notifier to be configured); ``sending`` was claimed
    by a sender whose outcome is not yet recorded; ``suppressed`` is recorded but pages nobody
    (older than the paging horizon, or muted: ``reason`` says which); ``digested`` was not sent
    on its own but listed in one grouped message (a backfill's summary, or the digest of a
    monitor past its daily page budget); ``held`` is a backfill's summary waiting for the
    backfill to finish; ``failed`` gave up after the configured attempts; ``undeliverable``
    has no destination the configured notifier can reach (a Slack message of a monitor without
    ``alerts.slack_channel``), ``reason`` says which.
    """

    HELD = "held"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    DIGESTED = "digested"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


class AlertKind(StrEnum):
    OPEN = "open"
    UPDATE = "update"
    JOIN = "join"  # another check found the same problem: a reply in the incident's thread
    RESOLVE = "resolve"
    REMIND = "remind"  # a critical incident still open and unacknowledged, said again
    SUMMARY = "summary"  # what one backfill found, in one message
    DIGEST = "digest"  # the alerts past a monitor's daily page budget, in one message


class Target(StrEnum):
    """Where an alert goes."""

    SLACK = "slack"
    PAGERDUTY = "pagerduty"


@dataclass(frozen=True)
class Evaluation:
    """One asset-check evaluation, as read from the orchestrator's event log.

    Attributes:
        run_id: The run that evaluated the check.
        monitor: Monitor name (the asset key prefix).
        asset: Asset key path, ``/``-joined (``recommender/service_metrics``).
        check: Check name.
        partition: Partition key (a UTC day) or ``""`` for unpartitioned assets.
        findings: Per-subject verdicts; none when the check could not evaluate the partition
            (it then neither fails nor counts as passing). A check that is not the product's
            own (no ``findings`` metadata) becomes one finding about the whole partition.
        evaluated_at: When the evaluation happened.
        backfill_id: The backfill the run belongs to, if any.
    """

    run_id: str
    monitor: str
    asset: str
    check: str
    partition: str
    findings: tuple[Finding, ...]
    evaluated_at: datetime
    backfill_id: str | None = None


@dataclass(frozen=True)
class Incident:
    """At most one unresolved incident exists per fingerprint."""

    id: int
    fingerprint: str
    monitor: str
    check: str
    subject: str
    status: IncidentStatus
    severity: Severity
    first_partition: str
    last_failing_partition: str
    failing_partitions: int
    resolved_partition: str | None
    title: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    slack_channel: str | None
    slack_ts: str | None
    family: str = ""
    parent_id: int | None = None

    @property
    def active(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def root_id(self) -> int:
        """The incident whose thread this one's messages go to."""
        return self.parent_id if self.parent_id is not None else self.id


@dataclass(frozen=True)
class Alert:
    """One stored delivery (the outbox row)."""

    id: int
    alert_key: str
    incident_id: int | None
    kind: AlertKind
    fingerprint: str
    monitor: str
    check: str
    subject: str
    partition: str
    severity: Severity
    title: str
    message: dict[str, object]
    channel: str | None
    status: DeliveryStatus
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    claimed_at: datetime | None
    sent_at: datetime | None
    slack_ts: str | None
    target: Target = Target.SLACK
    backfill_id: str | None = None

    @property
    def page(self) -> bool:
        """A message that notifies people: an incident's first message or a grouped one."""
        return self.kind in (AlertKind.OPEN, AlertKind.SUMMARY, AlertKind.DIGEST)


@dataclass(frozen=True)
class Mute:
    """A window in which a monitor's alerts (of one check, one subject) are not sent."""

    id: int
    monitor: str
    check: str | None
    subject: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime

    def covers(self, monitor: str, check: str, subject: str, at: datetime) -> bool:
        return (
            self.monitor == monitor
            and self.check in (None, check)
            and (
                self.subject is None
                or subject.split("@", 1)[0] == self.subject
                or subject == self.subject
            )
            and self.starts_at <= at < self.ends_at
        )


def fingerprint(monitor: str, check: str, subject: str) -> str:
    """Identity of a problem: one incident at a time per fingerprint."""
    return f"{monitor}/{check}/{subject}" if subject != WHOLE else f"{monitor}/{check}"


@dataclass(frozen=True)
class AlertContext:
    """What ingestion needs besides the evaluations."""

    alerts: Mapping[str, AlertsConfig]
    dagster_url: str
    now: datetime
    web_url: str | None = None


@dataclass
class IngestReport:
    """What one ingestion did."""

    runs: int = 0
    skipped_runs: int = 0
    evaluations: int = 0
    opened: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    alerts_stored: int = 0
