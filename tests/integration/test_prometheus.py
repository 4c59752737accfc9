"""The Prometheus endpoint over a result store with known results: scraped over HTTP, parsed
with prometheus_client's own parser, read anew on every scrape."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection

from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.config import RefusalConfig
from monitoring_pipelines.core.dimensions import dimensions
from monitoring_pipelines.core.drift.engine import ColumnDrift, Role, Verdict
from monitoring_pipelines.core.hallucination.rise import assess_rises
from monitoring_pipelines.core.integrations.prometheus import StoreCollector, serve
from monitoring_pipelines.core.safety.check import refusal_policy
from monitoring_pipelines.core.safety.day import Answer, measure_day
from monitoring_pipelines.core.safety.refusal import DEFAULT_PATTERNS, RefusalMatcher
from monitoring_pipelines.core.safety.rises import refusal_rates
from monitoring_pipelines.core.safety.stored import patterns_identity, safety_metrics
from monitoring_pipelines.core.store.engine import make_engine
from monitoring_pipelines.core.store.results import ResultRepository

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
MONITORS = ["recommender", "sentiment", "support_bot"]


def drift(column: str, role: Role, score: float | None, verdict: Verdict) -> ColumnDrift:
    statistic = "jensen_shannon" if column in ("channel", "predicted_label") else "wasserstein"
    return ColumnDrift(
        column=column,
        role=role,
        kind="numeric" if statistic == "wasserstein" else "categorical",
        statistic=statistic,
        score=score,
        p_value=0.001,
        p_adjusted=0.001,
        p_value_rows=1000,
        rows=5000,
        reference_rows=20000,
        warn=0.05,
        critical=0.15,
        verdict=verdict,
    )


def incident(store: AlertRepository, conn: Connection, n: int, severity: str, status: str) -> None:
    opened = store.open_incident(
        conn,
        fingerprint=f"sentiment|feature_drift|c{n}",
        monitor="sentiment",
        check_name="feature_drift",
        subject=f"c{n}",
        severity=severity,
        first_partition="2026-09-01",
        last_failing_partition="2026-09-02",
        failing_partitions=2,
        title=f"drift of c{n}",
    )
    if status != "open":
        store.update_incident(conn, opened.id, status=status)


def alert(store: AlertRepository, conn: Connection, n: int, status: str) -> None:
    store.enqueue(
        conn,
        alert_key=f"a{n}",
        kind="open",
        fingerprint=f"sentiment|feature_drift|c{n}",
        monitor="sentiment",
        check_name="feature_drift",
        subject=f"c{n}",
        partition_key="2026-09-02",
        severity="warn",
        title="drift",
        message={},
        status=status,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertRepository]:
    """Two days of results for two monitors, plus rows that must not be exported: an older
    day, the performance reference, a 7-day window and a segment's slice."""
    store = AlertRepository.connect(f"sqlite:///{tmp_path / 'results.db'}")
    results = ResultRepository(store.database)
    results.save_metrics("support_bot", "service_metrics", "2026-09-01", {("p95_ms", ""): 900.0})
    service = {"p50_ms": 400.0, "p95_ms": 1200.5, "p99_ms": 2500.0, "error_rate": 0.02}
    service |= {"requests": 1000.0, "errors": 20.0, "latency_missing": 3.0}
    results.save_metrics(
        "support_bot", "service_metrics", "2026-09-02", {(k, ""): v for k, v in service.items()}
    )
    costs: dict[tuple[str, str], float | None] = {("cost_usd", ""): 3.5}
    for model, cost, requests, prompt, completion in (
        ("gpt-4o", 3.0, 600.0, 100_000.0, 20_000.0),
        ("gpt-4o-mini", 0.5, 390.0, 80_000.0, 9_000.0),
        ("our-finetune", None, 10.0, 1_000.0, 100.0),
    ):
        dims = dimensions(model=model)
        costs |= {("cost_usd", dims): cost, ("requests", dims): requests}
        costs |= {("prompt_tokens", dims): prompt, ("completion_tokens", dims): completion}
    results.save_metrics("support_bot", "token_costs", "2026-09-02", costs)
    results.save_metrics(
        "support_bot",
        "hallucination_rate",
        "2026-09-02",
        {
            ("hallucination_rate", ""): 0.08,
            ("scored", ""): 250.0,
            ("hallucination_rate", dimensions(intent="billing")): 0.2,
        },
    )
    results.save_metrics("sentiment", "performance", "reference", {("accuracy", ""): 0.88})
    results.save_metrics(
        "sentiment",
        "performance",
        "2026-09-02",
        {
            ("accuracy", ""): 0.66,
            ("coverage", ""): 0.4,
            ("delta", ""): -0.22,
            ("precision", dimensions(**{"class": "neutral"})): 0.5,
            ("accuracy", dimensions(segment="model_version", value="v2")): 0.1,
        },
    )
    results.save_metrics(
        "sentiment",
        "data_quality",
        "2026-09-02",
        {("expectations_failed", ""): 2.0, ("expectations_evaluated", ""): 14.0},
    )
    results.save_drift("sentiment", "2026-09-01", [drift("channel", "feature", 0.01, "ok")])
    results.save_drift(
        "sentiment",
        "2026-09-02",
        [
            drift("channel", "feature", 0.21, "critical"),
            drift("text_length", "feature", 0.01, "ok"),
            drift("word_count", "feature", None, "insufficient_rows"),
            drift("predicted_label", "prediction", 0.02, "ok"),
            drift("channel@model_version=v2", "segment", 0.3, "warn"),
        ],
    )
    results.save_drift("sentiment", "2026-09-02/7d", [drift("channel", "feature", 9.9, "critical")])
    with store.transaction() as conn:
        incident(store, conn, 1, "critical", "open")
        incident(store, conn, 2, "warn", "acknowledged")
        incident(store, conn, 3, "critical", "resolved")
        for n, status in enumerate(["pending", "pending", "failed", "sent"]):
            alert(store, conn, n, status)
    yield store
    store.dispose()


@pytest.fixture
def endpoint(store: AlertRepository) -> Iterator[str]:
    server, thread = serve(store.database.engine, "127.0.0.1", 0, MONITORS)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode("utf-8")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def partition(samples: Samples, monitor: str, asset: str) -> float:
    return value(samples, "monitoring_partition_timestamp_seconds", monitor=monitor, asset=asset)


def day_start(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def test_a_scrape_exports_the_latest_day_of_every_asset(endpoint: str) -> None:
    samples = scrape(endpoint)

    bot = {"monitor": "support_bot"}
    assert value(samples, "monitoring_latency_p50_milliseconds", **bot) == 400.0
    assert value(samples, "monitoring_latency_p95_milliseconds", **bot) == 1200.5
    assert value(samples, "monitoring_latency_p99_milliseconds", **bot) == 2500.0
    assert value(samples, "monitoring_error_ratio", **bot) == 0.02
    assert value(samples, "monitoring_requests", **bot) == 1000.0
    assert partition(samples, "support_bot", "service_metrics") == day_start("2026-09-02")
    assert named(samples, "monitoring_cost_usd") == {
        frozenset({("monitor", "support_bot"), ("model", "gpt-4o")}): 3.0,
        frozenset({("monitor", "support_bot"), ("model", "gpt-4o-mini")}): 0.5,
    }  # the unpriced model has no cost, and the total is not a fourth series
    assert value(samples, "monitoring_llm_unpriced_models", **bot) == 1.0
    assert value(samples, "monitoring_llm_tokens", model="gpt-4o", type="input", **bot) == 100_000
    assert value(samples, "monitoring_llm_tokens", model="gpt-4o", type="output", **bot) == 20_000
    assert value(samples, "monitoring_llm_requests", model="our-finetune", **bot) == 10.0
    assert named(samples, "monitoring_hallucination_ratio") == {frozenset(bot.items()): 0.08}
    assert value(samples, "monitoring_hallucination_scored_answers", **bot) == 250.0

    sentiment = {"monitor": "sentiment"}
    assert named(samples, "monitoring_accuracy_ratio") == {frozenset(sentiment.items()): 0.66}
    assert value(samples, "monitoring_label_coverage_ratio", **sentiment) == 0.4
    assert value(samples, "monitoring_performance_delta", **sentiment) == -0.22
    neutral = {"class": "neutral", **sentiment}
    assert value(samples, "monitoring_class_precision_ratio", **neutral) == 0.5
    assert value(samples, "monitoring_expectations_failed", **sentiment) == 2.0
    assert named(samples, "monitoring_drift_score") == {
        frozenset({**sentiment, "column": c, "role": r, "statistic": s}.items()): v
        for c, r, s, v in (
            ("channel", "feature", "jensen_shannon", 0.21),
            ("text_length", "feature", "wasserstein", 0.01),
            ("predicted_label", "prediction", "jensen_shannon", 0.02),
        )
    }  # the older day, the 7-day window and the segment slice are not there
    channel = {"column": "channel", **sentiment}
    assert value(samples, "monitoring_drift_threshold", severity="critical", **channel) == 0.15
    assert value(samples, "monitoring_drift_columns_drifted", **sentiment) == 1.0
    assert value(samples, "monitoring_drift_columns_tested", **sentiment) == 3.0
    assert value(samples, "monitoring_drift_segments_drifted", **sentiment) == 1.0

    assert value(samples, "monitoring_open_incidents", severity="critical", **sentiment) == 1.0
    assert value(samples, "monitoring_open_incidents", severity="warn", **sentiment) == 1.0
    quiet = {"monitor": "recommender", "severity": "critical"}  # configured, no incident yet
    assert value(samples, "monitoring_open_incidents", **quiet) == 0.0
    assert value(samples, "monitoring_alerts", status="pending", **sentiment) == 2.0
    assert value(samples, "monitoring_alerts", status="failed", **sentiment) == 1.0
    assert value(samples, "monitoring_alerts", status="suppressed", **sentiment) == 0.0
    assert value(samples, "monitoring_store_up") == 1.0


def test_each_scrape_reads_the_store_anew(endpoint: str, store: AlertRepository) -> None:
    results = ResultRepository(store.database)
    before = scrape(endpoint)
    new_day = {("p95_ms", ""): 5000.0, ("requests", ""): 7.0}
    results.save_metrics("support_bot", "service_metrics", "2026-09-03", new_day)
    with store.transaction() as conn:
        incident(store, conn, 4, "critical", "open")

    after = scrape(endpoint)

    bot = {"monitor": "support_bot"}
    assert value(before, "monitoring_latency_p95_milliseconds", **bot) == 1200.5
    assert value(after, "monitoring_latency_p95_milliseconds", **bot) == 5000.0
    assert ("monitoring_latency_p50_milliseconds", frozenset(bot.items())) not in after
    assert partition(after, "support_bot", "service_metrics") == day_start("2026-09-03")
    critical = {"monitor": "sentiment", "severity": "critical"}
    assert value(before, "monitoring_open_incidents", **critical) == 1.0
    assert value(after, "monitoring_open_incidents", **critical) == 2.0


def test_an_unreadable_store_is_reported_not_raised(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    families = list(StoreCollector(engine).collect())
    exported = [(f.name, [s.value for s in f.samples]) for f in families]
    assert exported == [("monitoring_store_up", [0.0])]
    engine.dispose()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_metrics_command_serves_until_stopped(
    store: AlertRepository, tmp_path: Path, stop: signal.Signals
) -> None:
    env = {
        **os.environ,
        "MONITORING_STORE_URL": str(store.database.engine.url),
        "MONITORING_CONFIG": str(tmp_path / "absent.yaml"),
        "MONITORING_HOME": str(tmp_path),
    }
    command = [sys.executable, "-m", "monitoring_pipelines.cli", "serve-metrics", "--port", "0"]
    process: subprocess.Popen[Any] = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("serving http://127.0.0.1:"), first + process.stderr.read()  # type: ignore[union-attr]
        url = first.split()[1]
        assert value(scrape(url), "monitoring_error_ratio", monitor="support_bot") == 0.02
        process.send_signal(stop)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert out.strip() == "stopped"


def test_output_safety_gauges_carry_kind_and_quantile(store: AlertRepository) -> None:
    matcher = RefusalMatcher.of(DEFAULT_PATTERNS)
    texts = ["one two three four"] * 6 + ["I can't help with that."] * 2
    texts += ["mail me at a@b.io", "card 4111 1111 1111 1111 please"]
    day = measure_day([Answer(t, "billing", "gpt-4o") for t in texts], matcher)
    rises = assess_rises(
        refusal_rates(day),
        [],
        patterns_identity(matcher),
        refusal_policy(RefusalConfig()),
        datetime(2026, 9, 2).date(),
    )
    results = ResultRepository(store.database)
    results.save_metrics(
        "support_bot", "output_safety", "2026-09-02", safety_metrics(day, rises, matcher)
    )
    server, thread = serve(store.database.engine, "127.0.0.1", 0, MONITORS)
    try:
        samples = scrape(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    bot = {"monitor": "support_bot"}
    assert named(samples, "monitoring_output_leak_ratio") == {
        frozenset({**bot, "kind": kind}.items()): share
        for kind, share in (("email", 0.1), ("phone", 0.0), ("card", 0.1), ("any", 0.2))
    }  # whole-day values only: no intent or model series
    assert named(samples, "monitoring_refusal_ratio") == {frozenset(bot.items()): 0.2}
    words = named(samples, "monitoring_answer_length_words")
    assert words == {
        frozenset({**bot, "quantile": "0.5"}.items()): day.overall.words[0.5],
        frozenset({**bot, "quantile": "0.95"}.items()): day.overall.words[0.95],
    }
    assert partition(samples, "support_bot", "output_safety") == day_start("2026-09-02")
