"""The alerting repository: check results, incidents, the outbox and cursors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, or_, select, update

from monitoring_pipelines.core.alerting.model import (
    Alert,
    AlertKind,
    DeliveryStatus,
    Evaluation,
    Incident,
    IncidentStatus,
    Mute,
    Target,
)
from monitoring_pipelines.core.alerting.policy import Point
from monitoring_pipelines.core.checks import Finding
from monitoring_pipelines.core.config import Severity
from monitoring_pipelines.core.store import tables as t
from monitoring_pipelines.core.store.database import Repository, now


@dataclass(frozen=True)
class DeliveryHealth:
    """A destination's delivery record: its last success, and since when and how often it has
    failed since (ISO timestamps; all empty before any attempt)."""

    last_ok: str | None = None
    failing_since: str | None = None
    failures: int = 0
    error: str | None = None


class AlertRepository(Repository):
    """Alerting state, in the :class:`Database` the results are in."""

    # -- ingestion ------------------------------------------------------------------------

    def claim_run(self, conn: Connection, run_id: str, evaluations: int) -> bool:
        """Mark a run as processed; False if another process already did (exactly once)."""
        result = conn.execute(
            self.database.insert_ignore(t.processed_runs, ["run_id"]).values(
                run_id=run_id, evaluations=evaluations, processed_at=now()
            )
        )
        return bool(result.rowcount)

    def is_processed(self, run_id: str) -> bool:
        with self.transaction() as conn:
            found = conn.execute(
                select(t.processed_runs.c.run_id).where(t.processed_runs.c.run_id == run_id)
            ).first()
            return found is not None

    def record_evaluation(self, conn: Connection, evaluation: Evaluation) -> None:
        """Replace the partition's results of this check on the evaluation's asset with its
        findings (and any row of a subject it names): each asset speaks for itself, so one
        asset's ``run_failure`` verdict never replaces another's."""
        c = t.check_results.c
        subjects = [f.subject for f in evaluation.findings]
        conn.execute(
            delete(t.check_results).where(
                c.monitor == evaluation.monitor,
                c.check_name == evaluation.check,
                c.partition_key == evaluation.partition,
                or_(c.asset == evaluation.asset, c.subject.in_(subjects)),
            )
        )
        if not subjects:
            return
        conn.execute(
            insert(t.check_results),
            [
                {
                    "monitor": evaluation.monitor,
                    "check_name": evaluation.check,
                    "partition_key": evaluation.partition,
                    "subject": f.subject,
                    "passed": f.passed,
                    "severity": f.severity.value,
                    "value": f.value,
                    "threshold": f.threshold,
                    "summary": f.summary,
                    "run_id": evaluation.run_id,
                    "asset": evaluation.asset,
                    "evaluated_at": evaluation.evaluated_at,
                }
                for f in evaluation.findings
            ],
        )

    def supersede(self, conn: Connection, evaluation: Evaluation) -> None:
        """Drop the earlier verdicts of the subjects the evaluation passes: an unpartitioned
        asset has one current state, and a build that succeeds clears the failures before it."""
        c = t.check_results.c
        passing = [f.subject for f in evaluation.findings if f.passed]
        if passing:
            conn.execute(
                delete(t.check_results).where(
                    c.monitor == evaluation.monitor,
                    c.check_name == evaluation.check,
                    c.subject.in_(passing),
                    c.partition_key < evaluation.partition,
                )
            )

    def result(
        self, conn: Connection, monitor: str, check: str, subject: str, partition: str
    ) -> Evaluation | None:
        """A recorded verdict as the evaluation (with its one finding) it came from."""
        c = t.check_results.c
        row = conn.execute(
            select(t.check_results).where(
                c.monitor == monitor,
                c.check_name == check,
                c.subject == subject,
                c.partition_key == partition,
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        finding = Finding(
            subject,
            bool(m["passed"]),
            Severity(m["severity"]),
            m["value"],
            m["threshold"],
            m["summary"],
        )
        return Evaluation(
            run_id=m["run_id"],
            monitor=monitor,
            asset=m["asset"],
            check=check,
            partition=partition,
            findings=(finding,),
            evaluated_at=m["evaluated_at"],
        )

    def timeline(
        self, conn: Connection, monitor: str, check: str, subject: str
    ) -> dict[str, Point]:
        c = t.check_results.c
        rows = conn.execute(
            select(c.partition_key, c.passed, c.severity).where(
                c.monitor == monitor, c.check_name == check, c.subject == subject
            )
        ).all()
        return {r.partition_key: Point(bool(r.passed), Severity(r.severity)) for r in rows}

    # -- incidents ------------------------------------------------------------------------

    def active_incident(self, conn: Connection, fingerprint: str) -> Incident | None:
        c = t.incidents.c
        row = conn.execute(
            select(t.incidents).where(
                c.fingerprint == fingerprint, c.status != IncidentStatus.RESOLVED.value
            )
        ).first()
        return _incident(row) if row else None

    def incidents_of(self, conn: Connection, fingerprint: str) -> list[Incident]:
        """Every incident of a fingerprint, whatever its status, oldest first."""
        c = t.incidents.c
        rows = conn.execute(
            select(t.incidents).where(c.fingerprint == fingerprint).order_by(c.id)
        ).all()
        return [_incident(r) for r in rows]

    def active_root(self, conn: Connection, monitor: str, family: str) -> Incident | None:
        """The open incident of a problem family on a monitor, which new findings join."""
        c = t.incidents.c
        row = conn.execute(
            select(t.incidents)
            .where(
                c.monitor == monitor,
                c.family == family,
                c.parent_id.is_(None),
                c.status != IncidentStatus.RESOLVED.value,
            )
            .order_by(c.id)
            .limit(1)
        ).first()
        return _incident(row) if row else None

    def children(self, conn: Connection, root_id: int) -> list[Incident]:
        """The incidents that joined a root, whatever their status."""
        rows = conn.execute(select(t.incidents).where(t.incidents.c.parent_id == root_id)).all()
        return [_incident(r) for r in rows]

    def active_children(self, conn: Connection, root_id: int) -> list[Incident]:
        c = t.incidents.c
        rows = conn.execute(
            select(t.incidents).where(
                c.parent_id == root_id, c.status != IncidentStatus.RESOLVED.value
            )
        ).all()
        return [_incident(r) for r in rows]

    def open_incident(
        self, conn: Connection, at: datetime | None = None, **fields: Any
    ) -> Incident:
        stamp = at or now()
        values = {"status": IncidentStatus.OPEN.value, "opened_at": stamp, "updated_at": stamp}
        new_id = conn.execute(insert(t.incidents).values(**(values | fields))).inserted_primary_key
        assert new_id is not None
        return self.incident(conn, int(new_id[0]))

    def update_incident(self, conn: Connection, incident_id: int, **fields: Any) -> Incident:
        conn.execute(
            update(t.incidents)
            .where(t.incidents.c.id == incident_id)
            .values(updated_at=now(), **fields)
        )
        return self.incident(conn, incident_id)

    def incident(self, conn: Connection, incident_id: int) -> Incident:
        row = conn.execute(select(t.incidents).where(t.incidents.c.id == incident_id)).one()
        return _incident(row)

    def incidents(
        self, status: Sequence[IncidentStatus] | None = None, monitor: str | None = None
    ) -> list[Incident]:
        query = select(t.incidents).order_by(t.incidents.c.id)
        if status:
            query = query.where(t.incidents.c.status.in_([s.value for s in status]))
        if monitor:
            query = query.where(t.incidents.c.monitor == monitor)
        with self.transaction() as conn:
            return [_incident(r) for r in conn.execute(query).all()]

    def get_incident(self, incident_id: int) -> Incident | None:
        with self.transaction() as conn:
            row = conn.execute(select(t.incidents).where(t.incidents.c.id == incident_id)).first()
            return _incident(row) if row else None

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(self, conn: Connection, **fields: Any) -> bool:
        """Store an alert unless one with the same key exists; True if stored."""
        values = {"attempts": 0, "created_at": now(), **fields}
        result = conn.execute(self.database.insert_ignore(t.alerts, ["alert_key"]).values(**values))
        return bool(result.rowcount)

    def due_alerts(self, at: datetime, limit: int = 100) -> list[Alert]:
        c = t.alerts.c
        query = (
            select(t.alerts)
            .where(
                c.status == DeliveryStatus.PENDING.value,
                (c.next_attempt_at.is_(None)) | (c.next_attempt_at <= at),
            )
            .order_by(c.id)
            .limit(limit)
        )
        with self.transaction() as conn:
            return [_alert(r) for r in conn.execute(query).all()]

    def in_doubt(self, claimed_before: datetime) -> list[Alert]:
        """Alerts claimed for sending whose outcome was never recorded (a crash)."""
        c = t.alerts.c
        query = select(t.alerts).where(
            c.status == DeliveryStatus.SENDING.value, c.claimed_at <= claimed_before
        )
        with self.transaction() as conn:
            return [_alert(r) for r in conn.execute(query.order_by(c.id)).all()]

    def claim(self, alert_id: int) -> bool:
        """Move a pending alert to ``sending``; False if someone else claimed it first."""
        c = t.alerts.c
        with self.transaction() as conn:
            result = conn.execute(
                update(t.alerts)
                .where(c.id == alert_id, c.status == DeliveryStatus.PENDING.value)
                .values(
                    status=DeliveryStatus.SENDING.value,
                    attempts=c.attempts + 1,
                    claimed_at=now(),
                )
            )
            return bool(result.rowcount)

    def set_alert(self, alert_id: int, **fields: Any) -> None:
        with self.transaction() as conn:
            conn.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(**fields))

    def mark_sent(self, alert: Alert, channel: str, ts: str, at: datetime | None = None) -> None:
        """Record a delivery. An incident's first Slack message becomes its thread; a grouped
        message (summary, digest) becomes the thread of every incident it lists that has none."""
        with self.transaction() as conn:
            conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert.id)
                .values(
                    status=DeliveryStatus.SENT.value,
                    sent_at=at or now(),
                    slack_ts=ts,
                    last_error=None,
                    next_attempt_at=None,
                )
            )
            if alert.target is not Target.SLACK:
                return
            listed = alert.message.get("incident_ids")
            ids = [int(i) for i in listed] if isinstance(listed, list) else []
            if alert.incident_id is not None:
                ids.append(alert.incident_id)
            if ids:
                conn.execute(
                    update(t.incidents)
                    .where(t.incidents.c.id.in_(ids), t.incidents.c.slack_ts.is_(None))
                    .values(slack_channel=channel, slack_ts=ts)
                )

    def pages_sent(self, monitor: str, target: Target, since: datetime, until: datetime) -> int:
        """Pages (first messages, summaries, digests) sent for a monitor in [since, until)."""
        c = t.alerts.c
        with self.transaction() as conn:
            rows = conn.execute(
                select(c.id).where(
                    c.monitor == monitor,
                    c.target == target.value,
                    c.status == DeliveryStatus.SENT.value,
                    c.kind.in_(
                        [AlertKind.OPEN.value, AlertKind.SUMMARY.value, AlertKind.DIGEST.value]
                    ),
                    c.sent_at >= since,
                    c.sent_at < until,
                )
            ).all()
            return len(rows)

    def last_message_at(self, incident_id: int) -> datetime | None:
        """When anything about the incident was last sent."""
        c = t.alerts.c
        with self.transaction() as conn:
            value = conn.execute(
                select(c.sent_at)
                .where(c.incident_id == incident_id, c.status == DeliveryStatus.SENT.value)
                .order_by(c.sent_at.desc())
                .limit(1)
            ).scalar()
            return value

    def update_pending(self, incident_id: int) -> bool:
        """Whether a Slack message about the incident (or one that joined it) waits to be sent."""
        a, i = t.alerts.c, t.incidents.c
        family = select(i.id).where((i.id == incident_id) | (i.parent_id == incident_id))
        query = (
            select(a.id)
            .where(
                a.incident_id.in_(family),
                a.status == DeliveryStatus.PENDING.value,
                a.target == Target.SLACK.value,
            )
            .limit(1)
        )
        with self.transaction() as conn:
            return conn.execute(query).first() is not None

    def alert_by_key(self, alert_key: str) -> Alert | None:
        with self.transaction() as conn:
            return self.alert_in(conn, alert_key)

    def alert_in(self, conn: Connection, alert_key: str) -> Alert | None:
        row = conn.execute(select(t.alerts).where(t.alerts.c.alert_key == alert_key)).first()
        return _alert(row) if row else None

    def last_slack_key(self, conn: Connection, incident_id: int) -> str | None:
        """The key of the last Slack message stored in the incident's thread."""
        c = t.alerts.c
        query = (
            select(c.alert_key)
            .where(c.incident_id == incident_id, c.target == Target.SLACK.value)
            .order_by(c.id.desc())
            .limit(1)
        )
        return conn.execute(query).scalar()

    def count_alerts(self, conn: Connection, key_prefix: str) -> int:
        """Stored alerts whose key starts with ``key_prefix``."""
        c = t.alerts.c
        query = select(func.count()).where(c.alert_key.startswith(key_prefix, autoescape=True))
        return int(conn.execute(query).scalar_one())

    def backfill_alerts(self, backfill_id: str) -> list[Alert]:
        """The alerts of a backfill's runs (its summary excluded)."""
        c = t.alerts.c
        with self.transaction() as conn:
            rows = conn.execute(
                select(t.alerts)
                .where(c.backfill_id == backfill_id, c.kind != AlertKind.SUMMARY.value)
                .order_by(c.id)
            ).all()
            return [_alert(r) for r in rows]

    def held_summaries(self) -> list[Alert]:
        """Backfill summaries held until their backfill finishes."""
        c = t.alerts.c
        with self.transaction() as conn:
            rows = conn.execute(
                select(t.alerts)
                .where(c.kind == AlertKind.SUMMARY.value, c.status == DeliveryStatus.HELD.value)
                .order_by(c.id)
            ).all()
            return [_alert(r) for r in rows]

    def set_message(self, alert_id: int, message: dict[str, object], **fields: Any) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(t.alerts).where(t.alerts.c.id == alert_id).values(message=message, **fields)
            )

    # -- mutes ----------------------------------------------------------------------------

    def add_mute(
        self,
        monitor: str,
        check: str | None,
        subject: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        created_by: str,
    ) -> Mute:
        if ends_at <= starts_at:
            raise ValueError(f"a mute must end after it starts ({starts_at} .. {ends_at})")
        with self.transaction() as conn:
            new_id = conn.execute(
                insert(t.mutes).values(
                    monitor=monitor,
                    check_name=check,
                    subject=subject,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    reason=reason,
                    created_by=created_by,
                    created_at=now(),
                )
            ).inserted_primary_key
            assert new_id is not None
            row = conn.execute(select(t.mutes).where(t.mutes.c.id == int(new_id[0]))).one()
            return _mute(row)

    def mutes(self, active_at: datetime | None = None) -> list[Mute]:
        """Every mute, or those in force at ``active_at``."""
        query = select(t.mutes).order_by(t.mutes.c.id)
        if active_at is not None:
            query = query.where(t.mutes.c.starts_at <= active_at, t.mutes.c.ends_at > active_at)
        with self.transaction() as conn:
            return [_mute(r) for r in conn.execute(query).all()]

    def remove_mute(self, mute_id: int) -> bool:
        with self.transaction() as conn:
            return bool(conn.execute(delete(t.mutes).where(t.mutes.c.id == mute_id)).rowcount)

    def end_mute(self, mute_id: int, at: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(update(t.mutes).where(t.mutes.c.id == mute_id).values(ends_at=at))

    # -- notifier health ------------------------------------------------------------------

    def record_delivery_health(
        self, target: Target, ok: bool, at: datetime, error: str | None = None
    ) -> None:
        """Keep the last success and the failures since, per target (``notifier:<target>``)."""
        was = self.delivery_health(target)
        stamp = at.isoformat()
        health = (
            DeliveryHealth(last_ok=stamp)
            if ok
            else DeliveryHealth(
                last_ok=was.last_ok,
                failing_since=was.failing_since or stamp,
                failures=was.failures + 1,
                error=(error or "")[:500],
            )
        )
        with self.transaction() as conn:
            self.set_cursor(conn, f"notifier:{target.value}", json.dumps(asdict(health)))

    def delivery_health(self, target: Target) -> DeliveryHealth:
        """The target's last success and failures since (all empty before any attempt)."""
        raw = self.get_cursor(f"notifier:{target.value}")
        if not raw:
            return DeliveryHealth()
        stored = json.loads(raw)
        return DeliveryHealth(
            last_ok=stored.get("last_ok"),
            failing_since=stored.get("failing_since"),
            failures=int(stored.get("failures") or 0),
            error=stored.get("error"),
        )

    def get_alert(self, alert_id: int) -> Alert | None:
        with self.transaction() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
            return _alert(row) if row else None

    def alerts(
        self,
        status: Sequence[DeliveryStatus] | None = None,
        monitor: str | None = None,
        incident_id: int | None = None,
    ) -> list[Alert]:
        query = select(t.alerts).order_by(t.alerts.c.id)
        if status:
            query = query.where(t.alerts.c.status.in_([s.value for s in status]))
        if monitor:
            query = query.where(t.alerts.c.monitor == monitor)
        if incident_id is not None:
            query = query.where(t.alerts.c.incident_id == incident_id)
        with self.transaction() as conn:
            return [_alert(r) for r in conn.execute(query).all()]

    def incident_thread(self, incident_id: int) -> tuple[str | None, str | None]:
        """(channel, ts) of an incident's first delivered message."""
        with self.transaction() as conn:
            row = conn.execute(
                select(t.incidents.c.slack_channel, t.incidents.c.slack_ts).where(
                    t.incidents.c.id == incident_id
                )
            ).one()
            return row.slack_channel, row.slack_ts

    def earlier_undelivered(self, alert: Alert) -> bool:
        """True if an earlier alert of the same incident is still waiting or being sent."""
        if alert.incident_id is None:
            return False
        c = t.alerts.c
        with self.transaction() as conn:
            row = conn.execute(
                select(c.id)
                .where(
                    and_(
                        c.incident_id == alert.incident_id,
                        c.target == alert.target.value,
                        c.id < alert.id,
                        c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]),
                    )
                )
                .limit(1)
            ).first()
            return row is not None

    # -- cursors --------------------------------------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        with self.transaction() as conn:
            return conn.execute(select(t.cursors.c.value).where(t.cursors.c.name == name)).scalar()

    def set_cursor(self, conn: Connection, name: str, value: str) -> None:
        conn.execute(delete(t.cursors).where(t.cursors.c.name == name))
        conn.execute(insert(t.cursors).values(name=name, value=value, updated_at=now()))


def _incident(row: Row[Any]) -> Incident:
    m = row._mapping
    return Incident(
        id=m["id"],
        fingerprint=m["fingerprint"],
        monitor=m["monitor"],
        check=m["check_name"],
        subject=m["subject"],
        family=m["family"],
        parent_id=m["parent_id"],
        status=IncidentStatus(m["status"]),
        severity=Severity(m["severity"]),
        first_partition=m["first_partition"],
        last_failing_partition=m["last_failing_partition"],
        failing_partitions=m["failing_partitions"],
        resolved_partition=m["resolved_partition"],
        title=m["title"],
        opened_at=m["opened_at"],
        updated_at=m["updated_at"],
        resolved_at=m["resolved_at"],
        acknowledged_by=m["acknowledged_by"],
        slack_channel=m["slack_channel"],
        slack_ts=m["slack_ts"],
    )


def _alert(row: Row[Any]) -> Alert:
    m = row._mapping
    return Alert(
        id=m["id"],
        alert_key=m["alert_key"],
        incident_id=m["incident_id"],
        kind=AlertKind(m["kind"]),
        fingerprint=m["fingerprint"],
        monitor=m["monitor"],
        check=m["check_name"],
        subject=m["subject"],
        partition=m["partition_key"],
        severity=Severity(m["severity"]),
        title=m["title"],
        message=dict(m["message"]),
        channel=m["channel"],
        status=DeliveryStatus(m["status"]),
        reason=m["reason"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        claimed_at=m["claimed_at"],
        sent_at=m["sent_at"],
        slack_ts=m["slack_ts"],
        target=Target(m["target"] or Target.SLACK.value),
        backfill_id=m["backfill_id"],
    )


def _mute(row: Row[Any]) -> Mute:
    m = row._mapping
    return Mute(
        id=m["id"],
        monitor=m["monitor"],
        check=m["check_name"],
        subject=m["subject"],
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        reason=m["reason"],
        created_by=m["created_by"],
        created_at=m["created_at"],
    )
