"""Traffic for the sentiment API on this machine: a baseline, then a scripted incident.

    python -m examples.sentiment_api.load --url http://127.0.0.1:8000 --baseline 600 --incident 300

The baseline sends a mix of positive, negative and neutral texts. The incident switches the
service's fault injection on (``PUT /fault``: the service must run with
SENTIMENT_FAULT_INJECTION=1): its model backend is overloaded, a share of the requests fail with
503 and a share of the rest get the fallback's "neutral". The switch is turned off again at the
end, also when the run is interrupted. The run is bounded by request counts and by a duration, and
only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from examples.sentiment_api.corpus import CORPUS

MAX_REQUESTS = 100_000
MAX_DURATION_S = 3600.0
# The baseline's mix of moods, and the incident's fault.
MIX = {"positive": 0.4, "negative": 0.3, "neutral": 0.3}
INCIDENT_FAULT = {"error_rate": 0.25, "fallback_rate": 0.5, "delay_ms": 40.0}


class LoadError(Exception):
    """A run that cannot start or go on; the message says why."""


@dataclass
class Phase:
    """What one phase sent and got back."""

    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        ok = sum(self.labels.values()) or 1
        errors = sum(n for s, n in self.statuses.items() if s >= 500)
        ordered = sorted(self.latencies_ms) or [0.0]
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        shares = ", ".join(f"{k} {self.labels[k] / ok:.0%}" for k in MIX)
        return (
            f"{self.name}: {self.requests} requests, {errors} 5xx "
            f"({errors / max(self.requests, 1):.1%}), p95 {p95:.1f} ms; {shares}"
        )


def check_loopback(url: str) -> str:
    """The URL without a trailing slash; LoadError unless it is http(s) on a loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise LoadError(f"--url {url!r}: expected http://127.0.0.1:PORT (a loopback address)")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise LoadError(
                f"--url {url!r}: host {host!r} is not a loopback address; this script only "
                "sends traffic to this machine (127.0.0.0/8, ::1 or localhost)"
            )
    return url.rstrip("/")


def _call(url: str, method: str, body: object | None, timeout: float) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Load:
    """Sends requests to one service within a request budget and a deadline."""

    def __init__(
        self, url: str, *, rate: float, duration_s: float, seed: int, timeout: float = 10.0
    ) -> None:
        self.url = check_loopback(url)
        self.interval = 1 / rate if rate > 0 else 0.0
        self.deadline = time.monotonic() + duration_s
        self.rng = random.Random(seed)
        self.timeout = timeout

    def phase(self, name: str, count: int, mix: dict[str, float]) -> Phase:
        result = Phase(name)
        moods, weights = list(mix), list(mix.values())
        next_at = time.monotonic()
        for _ in range(count):
            if time.monotonic() >= self.deadline:
                break
            mood = self.rng.choices(moods, weights)[0]
            text = self.rng.choice(CORPUS[mood])
            started = time.perf_counter()
            try:
                status, body = _call(f"{self.url}/predict", "POST", {"text": text}, self.timeout)
            except OSError as exc:
                raise LoadError(f"{self.url}/predict: {exc}") from exc
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
            if status == 200:
                result.labels[json.loads(body)["label"]] += 1
            next_at += self.interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        return result

    def set_fault(self, fault: dict[str, float] | None) -> None:
        method = "DELETE" if fault is None else "PUT"
        try:
            status, body = _call(f"{self.url}/fault", method, fault, self.timeout)
        except OSError as exc:
            raise LoadError(f"{self.url}/fault: {exc}") from exc
        if status == 404:
            raise LoadError(
                f"{self.url}/fault does not exist: start the service with "
                "SENTIMENT_FAULT_INJECTION=1 for the incident (or run with --incident 0)"
            )
        if status != 200:
            raise LoadError(f"{method} {self.url}/fault answered {status}: {body[:200]!r}")


def run(
    url: str,
    *,
    baseline: int,
    incident: int,
    rate: float = 50.0,
    duration_s: float = 600.0,
    seed: int = 7,
) -> list[Phase]:
    """The baseline phase, then the incident phase; LoadError on a bad target or limit."""
    if baseline < 0 or incident < 0 or baseline + incident > MAX_REQUESTS:
        raise LoadError(f"--baseline and --incident: 0 to {MAX_REQUESTS} requests in all")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise LoadError(f"--duration: more than 0 and at most {MAX_DURATION_S:.0f} seconds")
    load = Load(url, rate=rate, duration_s=duration_s, seed=seed)
    phases = [load.phase("baseline", baseline, MIX)]
    if incident:
        load.set_fault(INCIDENT_FAULT)
        try:
            phases.append(load.phase("incident", incident, MIX))
        finally:
            load.set_fault(None)
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service (loopback)")
    parser.add_argument("--baseline", type=int, default=600, help="baseline requests")
    parser.add_argument("--incident", type=int, default=300, help="incident requests (0: none)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests a second (0: no pause)")
    parser.add_argument("--duration", type=float, default=600.0, help="stop after this many s")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        phases = run(
            args.url,
            baseline=args.baseline,
            incident=args.incident,
            rate=args.rate,
            duration_s=args.duration,
            seed=args.seed,
        )
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for phase in phases:
        print(phase.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
