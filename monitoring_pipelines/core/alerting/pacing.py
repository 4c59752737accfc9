"""How much one delivery pass sends: a destination that asked to slow down or did not answer
gets nothing more in that pass, and a pass starts no send once its time budget is spent
(README.md, "Alerting").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitoring_pipelines.core.errors import DeliveryError


@dataclass(frozen=True)
class Hold:
    """Why a send waits for a later pass.

    Attributes:
        reason: What stopped the sends, for the pass's report.
        until: The earliest time the destination is tried again; None: at the next pass.
    """

    reason: str
    until: datetime | None = None


class Pacer:
    """The destinations one pass has stopped sending to, and the pass's deadline.

    A destination is one sender: the Slack notifier (one workspace), the alerts file, or the
    PagerDuty notifier of one routing key. A retryable error from it (a 429, no answer in
    time, a server error) says the destination, not the message, is in trouble: posting the
    pass's other alerts to it would only wait out more timeouts or push further into the rate
    limit, so they wait until its Retry-After (or the first backoff) has passed.

    Args:
        now: The pass's time; pauses are counted from it.
        budget_s: Seconds the pass may spend before it starts no more sends; None: no limit.
            A send already under way finishes (within its notifier's timeout).
        clock: Monotonic seconds; the pass's time spent is measured with it.
    """

    def __init__(
        self,
        now: datetime,
        budget_s: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        self._budget_s = budget_s
        self._clock = clock
        self._started = clock()
        self._paused: dict[int, tuple[object, Hold]] = {}
        self._spent: Hold | None = None

    def pause(self, destination: object, error: DeliveryError, backoff_s: float) -> None:
        """Send nothing more to ``destination`` in this pass if ``error`` is retryable.

        Args:
            destination: The sender that failed.
            error: What it raised.
            backoff_s: The least pause when the error names no Retry-After.
        """
        if not error.retryable or id(destination) in self._paused:
            return
        until = self._now + timedelta(seconds=max(backoff_s, error.retry_after_s or 0.0))
        name = getattr(destination, "name", type(destination).__name__)
        hold = Hold(f"{name} paused until {until:%Y-%m-%d %H:%M:%S} UTC after: {error}", until)
        # The destination is kept with its hold so that its id stays its own for the pass.
        self._paused[id(destination)] = (destination, hold)

    def hold(self, destination: object) -> Hold | None:
        """Why nothing may be sent to ``destination`` now, or None when it may."""
        paused = self._paused.get(id(destination))
        if paused is not None:
            return paused[1]
        budget = self._budget_s
        if self._spent is None and budget is not None and self._clock() - self._started >= budget:
            self._spent = Hold(f"the pass's time budget of {budget:g} s was spent")
        return self._spent

    def reasons(self) -> list[str]:
        """What stopped sends in this pass: each paused destination, then a spent budget."""
        held = [hold.reason[:500] for _, hold in self._paused.values()]
        return held + ([self._spent.reason] if self._spent is not None else [])
