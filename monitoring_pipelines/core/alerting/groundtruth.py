"""Comparing the incidents found with the events a dataset is known to contain.

Used by the demo's report and the end-to-end test: every injected event should be found by
the check meant for it, once, and nothing else should open an incident.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from monitoring_pipelines.core.alerting.model import Incident
from monitoring_pipelines.core.checks import WHOLE

# An incident may open a few days after its event starts (persistence) or linger after it
# ends (hysteresis); it still belongs to the event within this margin.
MARGIN_DAYS = 4


@dataclass(frozen=True)
class Event:
    """One injected event of a dataset's ground truth."""

    id: str
    monitor: str
    checks: tuple[str, ...]
    subject: str
    kind: str
    first_day: date
    last_day: date
    description: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        checks = data.get("checks") or [data["check"]]
        return cls(
            id=data["id"],
            monitor=data["monitor"],
            checks=tuple(checks),
            subject=data.get("subject") or WHOLE,
            kind=data.get("kind", ""),
            first_day=date.fromisoformat(data["first_day"]),
            last_day=date.fromisoformat(data["last_day"]),
            description=data.get("description", ""),
        )


@dataclass(frozen=True)
class Match:
    """The incidents found for one event."""

    event: Event
    incidents: tuple[Incident, ...]
    covered: bool

    @property
    def found(self) -> bool:
        return bool(self.incidents)

    @property
    def check(self) -> str:
        return ", ".join(self.event.checks)


@dataclass(frozen=True)
class Comparison:
    matches: tuple[Match, ...]
    false_incidents: tuple[Incident, ...]

    @property
    def found(self) -> list[Match]:
        return [m for m in self.matches if m.covered and m.found]

    @property
    def missed(self) -> list[Match]:
        return [m for m in self.matches if m.covered and not m.found]

    @property
    def duplicates(self) -> int:
        return sum(max(len(m.incidents) - 1, 0) for m in self.matches)


def load_events(path: Path) -> list[Event]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Event.from_dict(e) for e in data["events"]]


def compare(
    events: Sequence[Event], incidents: Iterable[Incident], implemented_checks: set[str]
) -> Comparison:
    """Match incidents to events by monitor, checks, subject and overlapping days.

    An incident is a root with the incidents that joined it (other checks finding the same
    problem); it belongs to an event when any of its checks is one the event is expected to
    fail. Events none of whose checks the product runs (yet) are listed as not covered.
    """
    everything = list(incidents)
    members: dict[int, list[Incident]] = {}
    for incident in everything:
        members.setdefault(incident.root_id, []).append(incident)
    remaining = [i for i in everything if i.parent_id is None]
    matches = []
    for event in events:
        mine = [i for i in remaining if any(_belongs(m, event) for m in members[i.id])]
        remaining = [i for i in remaining if i not in mine]
        covered = bool(set(event.checks) & implemented_checks)
        matches.append(Match(event, tuple(mine), covered))
    return Comparison(tuple(matches), tuple(remaining))


def _belongs(incident: Incident, event: Event) -> bool:
    if incident.monitor != event.monitor or incident.check not in event.checks:
        return False
    if event.subject != WHOLE and incident.subject.split("@", 1)[0] != event.subject:
        return False
    first = date.fromisoformat(incident.first_partition)
    last = date.fromisoformat(incident.last_failing_partition)
    margin = timedelta(days=MARGIN_DAYS)
    return first <= event.last_day + margin and last >= event.first_day - margin
