"""Error budgets and burn rates of the service level objectives, over windows of daily counts.

Each day stores its events and bad events per objective, so a window's budget and burn rates
are sums of days; a window missing a day's counts is not evaluated (README.md, "SLOs and error
budgets").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from monitoring_pipelines.core.checks import CheckOutcome, Finding
from monitoring_pipelines.core.config import ServiceConfig, Severity, SloConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.wording import count

CHECK = "error_budget"
# Names of the per-day counts stored with the service metrics (dimensioned by ``sli``).
EVENTS, BAD, THRESHOLD = "slo_events", "slo_bad", "slo_threshold_ms"


class Sli(StrEnum):
    """What an objective counts as a bad request."""

    LATENCY = "latency"
    ERRORS = "errors"


@dataclass(frozen=True)
class SloCounts:
    """One day's events of an objective.

    Attributes:
        events: Requests the objective judges (a usable latency, or a known status).
        bad: Of them, the bad ones.
        threshold: For latency, the ``latency_ms`` the day was counted with.
    """

    events: int
    bad: int
    threshold: float | None = None


def count_rows(counts: Mapping[Sli, SloCounts]) -> dict[tuple[str, str], float | None]:
    """A day's counts as result-store rows, dimensioned by ``sli``."""
    rows: dict[tuple[str, str], float | None] = {}
    for sli, c in counts.items():
        dims = dimensions(sli=sli.value)
        rows[(EVENTS, dims)] = float(c.events)
        rows[(BAD, dims)] = float(c.bad)
        if c.threshold is not None:
            rows[(THRESHOLD, dims)] = c.threshold
    return rows


def counts_from_rows(rows: Iterable[tuple[str, str, float | None]]) -> dict[Sli, SloCounts]:
    """A day's counts back from its (name, dimensions, value) rows; an objective missing its
    events or bad count is left out (never read as zero)."""
    found: dict[Sli, dict[str, float]] = {}
    for name, dims, value in rows:
        for sli in Sli:
            if dims == dimensions(sli=sli.value) and value is not None:
                found.setdefault(sli, {})[name] = value
    return {
        sli: SloCounts(int(v[EVENTS]), int(v[BAD]), v.get(THRESHOLD))
        for sli, v in found.items()
        if EVENTS in v and BAD in v
    }


@dataclass(frozen=True)
class SloTarget:
    """An objective as the budget sees it.

    Attributes:
        sli: Latency or errors.
        allowed: The allowed bad share.
        objective: How a person reads it ("95 % of requests within 200 ms").
        threshold: For latency, ``latency_ms``.
    """

    sli: Sli
    allowed: float
    objective: str
    threshold: float | None = None


def slo_targets(service: ServiceConfig) -> list[SloTarget]:
    """The objectives the configuration sets and has the columns for."""
    slo = service.slo
    targets = []
    if slo.latency_ms is not None and service.latency_column:
        pct = slo.latency_percentile
        targets.append(
            SloTarget(
                Sli.LATENCY,
                (100.0 - pct) / 100.0,
                f"{pct:g} % of requests within {slo.latency_ms:g} ms",
                slo.latency_ms,
            )
        )
    if slo.error_rate is not None and service.status_column:
        targets.append(
            SloTarget(
                Sli.ERRORS, slo.error_rate, f"at most {slo.error_rate:.2%} of requests failing"
            )
        )
    return targets


@dataclass(frozen=True)
class WindowCounts:
    """The counts of the ``days`` days ending on ``end``.

    Attributes:
        end: Last day of the window.
        days: Its length.
        missing: Its days since the monitor's first day without stored counts.
        events: Events summed over the days with counts.
        bad: Bad events summed likewise.
        before_start: Its days before the monitor's first day (no counts are expected).
        first_day: The monitor's first day, when the window reaches before it.
    """

    end: date
    days: int
    missing: tuple[date, ...]
    events: int
    bad: int
    before_start: int = 0
    first_day: date | None = None

    @property
    def evaluated(self) -> bool:
        return not self.missing and not self.before_start and self.events > 0

    @property
    def counted(self) -> int:
        """Its days with stored counts."""
        return self.days - len(self.missing) - self.before_start

    @property
    def bad_share(self) -> float | None:
        return self.bad / self.events if self.evaluated else None

    def burn(self, allowed: float) -> float | None:
        """Bad share over the allowed share (None when not evaluated or nothing is allowed)."""
        share = self.bad_share
        if share is None or allowed <= 0:
            return None
        return share / allowed

    def reason(self) -> str:
        """Why the window is not evaluated ("" when it is)."""
        if self.before_start:
            since = self.days - self.before_start
            text = (
                f"not evaluated: the {self.days}-day window to {self.end} starts before the "
                f"monitor's first day {self.first_day} ({count(since, 'day')} of history so far)"
            )
            if self.missing:
                text += f"; {count(len(self.missing), 'day')} without stored counts"
            return text
        if self.missing:
            shown = ", ".join(d.isoformat() for d in self.missing[:3])
            more = f" and {len(self.missing) - 3} more" if len(self.missing) > 3 else ""
            return (
                f"not evaluated: {self.days - len(self.missing)} of the {self.days} days to "
                f"{self.end} have stored counts (missing {shown}{more})"
            )
        if self.events == 0:
            return f"not evaluated: no requests in the {self.days} days to {self.end}"
        return ""


def window_counts(
    daily: Mapping[date, SloCounts], end: date, days: int, first: date | None = None
) -> WindowCounts:
    """The window of ``days`` days ending on ``end`` from the daily counts of one objective;
    days before ``first`` (the monitor's ``start_date``) are not expected to have counts."""
    window = [end - timedelta(days=i) for i in range(days - 1, -1, -1)]
    present = [daily[d] for d in window if d in daily]
    before = sum(1 for d in window if first is not None and d < first and d not in daily)
    return WindowCounts(
        end=end,
        days=days,
        missing=tuple(d for d in window if d not in daily and (first is None or d >= first)),
        events=sum(c.events for c in present),
        bad=sum(c.bad for c in present),
        before_start=before,
        first_day=first if before else None,
    )


@dataclass(frozen=True)
class BudgetStatus:
    """An objective's budget and burn rates on one day.

    Attributes:
        target: The objective.
        budget: The ``window_days`` window.
        fast: The fast burn window.
        slow: The slow burn window.
        stale: Days of the budget window counted with another latency threshold than today's.
    """

    target: SloTarget
    budget: WindowCounts
    fast: WindowCounts
    slow: WindowCounts
    stale: tuple[date, ...] = ()

    @property
    def remaining(self) -> float | None:
        """Share of the window's budget left: ``1 - bad / (allowed * events)``."""
        if not self.budget.evaluated:
            return None
        allowed = self.target.allowed * self.budget.events
        if allowed <= 0:
            return 1.0 if self.budget.bad == 0 else None
        return 1.0 - self.budget.bad / allowed

    def at_risk(self, slo: SloConfig) -> bool:
        """Whether one more fast window at the fast burn rate spends what is left (or the
        budget is unknown)."""
        remaining, burn = self.remaining, self.fast.burn(self.target.allowed)
        if remaining is None or burn is None:
            return True
        return remaining <= burn * slo.fast_burn.days / slo.window_days


def budget_status(
    target: SloTarget,
    daily: Mapping[date, SloCounts],
    end: date,
    slo: SloConfig,
    first: date | None = None,
) -> BudgetStatus:
    """The budget and burn windows of ``target`` ending on ``end`` (``first``: the monitor's
    first day, before which no counts are expected)."""
    budget = window_counts(daily, end, slo.window_days, first)
    stale: tuple[date, ...] = ()
    if target.threshold is not None:
        first = end - timedelta(days=slo.window_days - 1)
        stale = tuple(
            sorted(
                d
                for d, c in daily.items()
                if first <= d <= end and c.threshold not in (None, target.threshold)
            )
        )
    return BudgetStatus(
        target=target,
        budget=budget,
        fast=window_counts(daily, end, slo.fast_burn.days, first),
        slow=window_counts(daily, end, slo.slow_burn.days, first),
        stale=stale,
    )


def budget_check(statuses: Sequence[BudgetStatus], slo: SloConfig) -> CheckOutcome:
    """The ``error_budget`` check: a fast and a slow burn finding per objective
    (subjects ``latency:fast``, ``latency:slow``, ``errors:fast``, ``errors:slow``)."""
    findings = []
    for status in statuses:
        findings.append(_burn_finding(status, "fast", slo))
        findings.append(_burn_finding(status, "slow", slo))
    failing = [f for f in findings if not f.passed]
    if failing:
        summary = "; ".join(f.summary for f in failing)
    else:
        summary = "; ".join(_budget_text(s, slo) for s in statuses) or "no objective configured"
    metadata: dict[str, float | int | str] = {}
    for status in statuses:
        if status.remaining is not None:
            metadata[f"budget_remaining/{status.target.sli}"] = status.remaining
    return CheckOutcome(CHECK, tuple(findings), summary, metadata)


def _burn_finding(status: BudgetStatus, speed: Literal["fast", "slow"], slo: SloConfig) -> Finding:
    config = slo.fast_burn if speed == "fast" else slo.slow_burn
    window = status.fast if speed == "fast" else status.slow
    target = status.target
    subject = f"{target.sli}:{speed}"
    span = f"{config.days} day{'s' if config.days > 1 else ''}"
    if not window.evaluated:
        return Finding(
            subject, True, Severity.WARN, None, config.threshold, f"{subject}: {window.reason()}"
        )
    burn = window.burn(target.allowed)
    share = f"{window.bad:,} bad of {window.events:,} requests ({window.bad / window.events:.2%})"
    if burn is None:  # an objective allowing no bad request has no budget to burn
        passed = window.bad == 0
        summary = f"{subject}: {share} over {span}; the objective allows none"
        return Finding(subject, passed, Severity.CRITICAL, None, config.threshold, summary)
    passed = burn < config.threshold
    severity = Severity.WARN
    text = (
        f"{subject}: burn {burn:.2f}x over {span} {'<' if passed else '>='} "
        f"{config.threshold:g}x ({share}; {target.objective}); {_budget_text(status, slo)}"
    )
    if speed == "fast" and not passed:
        if status.remaining is None:
            severity = Severity.CRITICAL
            text += ": critical while the budget is unknown"
        elif status.at_risk(slo):
            severity = Severity.CRITICAL
            text += f": at this rate {span} more spends what is left"
        else:
            text += f": not at risk at this rate within {span}"
    return Finding(subject, passed, severity, burn, config.threshold, text)


def _budget_text(status: BudgetStatus, slo: SloConfig) -> str:
    remaining = status.remaining
    if remaining is None:
        reason = status.budget.reason() or "the objective allows no bad request"
        text = f"{status.target.sli} budget {reason}"
    else:
        text = f"{remaining:.0%} of the {slo.window_days}-day {status.target.sli} budget left"
    if status.stale:
        text += (
            f" ({count(len(status.stale), 'day')} counted with another latency threshold: "
            "rematerialize their service_metrics)"
        )
    return text


def budget_values(statuses: Sequence[BudgetStatus]) -> dict[str, float | int | None]:
    """What the UI plots per partition: remaining budget, burn rates, the window's counts."""
    values: dict[str, float | int | None] = {}
    for s in statuses:
        sli = s.target.sli
        values[f"budget_remaining/{sli}"] = s.remaining
        values[f"burn_rate/{sli}/fast"] = s.fast.burn(s.target.allowed)
        values[f"burn_rate/{sli}/slow"] = s.slow.burn(s.target.allowed)
        values[f"bad_share/{sli}"] = s.budget.bad_share
        values[f"allowed_bad_share/{sli}"] = s.target.allowed
        values[f"events/{sli}"] = s.budget.events
        values[f"bad/{sli}"] = s.budget.bad
        values[f"days_with_counts/{sli}"] = s.budget.counted
    return values


def budget_rows(statuses: Sequence[BudgetStatus]) -> dict[tuple[str, str], float | None]:
    """The same numbers as result-store rows, dimensioned by ``sli``."""
    rows: dict[tuple[str, str], float | None] = {}
    for s in statuses:
        dims = dimensions(sli=s.target.sli.value)
        rows |= {
            ("budget_remaining", dims): s.remaining,
            ("burn_rate_fast", dims): s.fast.burn(s.target.allowed),
            ("burn_rate_slow", dims): s.slow.burn(s.target.allowed),
            ("bad_share", dims): s.budget.bad_share,
            ("events", dims): float(s.budget.events),
            ("bad", dims): float(s.budget.bad),
            ("days_with_counts", dims): float(s.budget.counted),
        }
    return rows
