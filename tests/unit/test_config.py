"""The monitor file: the shipped example validates, and every bad file gets one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitoring_pipelines.core.config_loading import load_config, parse_config
from monitoring_pipelines.core.errors import ConfigError

DEMO = Path(__file__).parents[2] / "demo" / "monitors.yaml"

MINIMAL = """
monitors:
  churn:
    start_date: 2026-01-01
    source: {table: predictions, timestamp_column: ts}
    reference: {path: train.parquet}
    features: {numeric: [age], categorical: [plan]}
"""


def problems(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ or {}, source="monitors.yaml")
    return str(info.value)


def with_change(path: list[str], value: object) -> str:
    raw = yaml.safe_load(DEMO.read_text())
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(raw)


def test_demo_configuration_is_valid() -> None:
    config = load_config(DEMO, {})
    assert set(config.monitors) == {"sentiment", "recommender", "support_bot"}
    bot = config.monitors["support_bot"]
    assert bot.llm is not None and bot.llm.daily_budget_usd == 4.0
    # defaults are merged under every monitor
    assert all(m.alerts.slack_channel == "#ml-alerts" for m in config.monitors.values())


def test_minimal_monitor_gets_documented_defaults() -> None:
    monitor = parse_config(MINIMAL, {}).monitors["churn"]
    assert monitor.drift.numeric.statistic == "wasserstein"
    assert monitor.drift.numeric.warn == 0.05
    assert monitor.drift.categorical.statistic == "jensen_shannon"
    assert monitor.drift.fdr == 0.01
    assert monitor.alerts.policy_for("feature_drift").persistence_k == 2
    assert monitor.alerts.policy_for("latency_slo").persistence_k == 1


def test_out_of_range_threshold_names_monitor_key_found_and_allowed() -> None:
    message = problems(with_change(["monitors", "sentiment", "service", "slo", "error_rate"], 1.5))
    assert "monitor 'sentiment', key 'service.slo.error_rate'" in message
    assert "found 1.5" in message
    assert "at most 1" in message


def test_unknown_key_lists_allowed_keys() -> None:
    message = problems(with_change(["monitors", "recommender", "source", "colour"], "red"))
    assert "monitor 'recommender', key 'source.colour': unknown key" in message
    assert "timestamp_column" in message and "request_id_column" in message


def test_literal_choice_lists_allowed_values() -> None:
    message = problems(with_change(["monitors", "sentiment", "prediction", "type"], "class"))
    assert "key 'prediction.type': found 'class'; allowed: 'label' or 'score'" in message


def test_pushdown_is_off_by_default_and_reads_yaml_bare_on_and_off() -> None:
    assert parse_config(MINIMAL, {}).monitors["churn"].source.pushdown == "off"
    for written, read in (("on", "on"), ("off", "off"), ("auto", "auto"), ("'on'", "on")):
        text = MINIMAL.replace(
            "timestamp_column: ts}", f"timestamp_column: ts, pushdown: {written}}}"
        )
        assert parse_config(text, {}).monitors["churn"].source.pushdown == read
    message = problems(
        MINIMAL.replace("timestamp_column: ts}", "timestamp_column: ts, pushdown: sometimes}")
    )
    assert "key 'source.pushdown'" in message and "allowed: 'auto', 'on' or 'off'" in message


def test_missing_required_key() -> None:
    message = problems("monitors:\n  churn:\n    start_date: 2026-01-01\n")
    assert "monitor 'churn', key 'source': missing" in message


def test_all_problems_reported_at_once() -> None:
    text = with_change(["monitors", "sentiment", "start_date"], "yesterday")
    raw = yaml.safe_load(text)
    raw["monitors"]["recommender"]["drift"] = {"fdr": 2}
    message = problems(yaml.safe_dump(raw))
    assert message.startswith("monitors.yaml: 2 problems")
    assert "key 'start_date': found 'yesterday'; allowed: a date" in message
    assert "monitor 'recommender', key 'drift.fdr': found 2" in message


def test_bad_monitor_name() -> None:
    message = problems(MINIMAL.replace("churn:", "Churn-Model:"))
    assert "monitor name 'Churn-Model'" in message
    assert "lower-case" in message


def test_column_with_two_roles_is_rejected() -> None:
    text = MINIMAL.replace("categorical: [plan]", "categorical: [age]")
    message = problems(text)
    assert "column 'age' is used as both a numeric feature and a categorical feature" in message


def test_features_without_reference_are_rejected() -> None:
    text = MINIMAL.replace("    reference: {path: train.parquet}\n", "")
    assert "need a 'reference'" in problems(text)


def test_reference_needs_exactly_one_location() -> None:
    text = MINIMAL.replace("{path: train.parquet}", "{path: a.parquet, table: t}")
    assert "exactly one of path, table or query (found path, table)" in problems(text)


def test_per_column_threshold_for_unknown_column() -> None:
    text = MINIMAL + "    drift:\n      columns:\n        income: {warn: 0.2}\n"
    assert "drift.columns names ['income']" in problems(text)


def test_persistence_k_cannot_exceed_n() -> None:
    text = MINIMAL + (
        "    alerts:\n      policies:\n"
        "        feature_drift: {persistence_k: 3, persistence_n: 2}\n"
    )
    assert "persistence_k (3) must not exceed persistence_n (2)" in problems(text)


def test_environment_interpolation() -> None:
    text = MINIMAL.replace("table: predictions", 'table: "${PRED_TABLE}"').replace(
        "train.parquet", '"${REF:-train.parquet}"'
    )
    monitor = parse_config(text, {"PRED_TABLE": "live_predictions"}).monitors["churn"]
    assert monitor.source.table == "live_predictions"
    assert monitor.reference is not None and monitor.reference.path == "train.parquet"
    message = problems(text)
    assert "environment variable PRED_TABLE is not set" in message
    assert "monitor 'churn', key 'source.table'" in message


def test_not_yaml_and_not_a_mapping() -> None:
    assert "is not valid YAML" in problems("monitors: [unclosed")
    assert "expected a mapping with a 'monitors' key" in problems("- a\n- b\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the monitor file"):
        load_config(tmp_path / "nope.yaml", {})


def test_end_date_bounds_the_partitions_and_must_not_precede_the_start() -> None:
    from monitoring_pipelines.partitions import daily_partitions

    ended = parse_config(
        MINIMAL.replace("2026-01-01\n", "2026-01-01\n    end_date: 2026-01-31\n"), {}
    )
    partitions = daily_partitions(ended.monitors["churn"])
    assert partitions.get_first_partition_key() == "2026-01-01"
    assert partitions.get_last_partition_key() == "2026-01-31"
    assert len(partitions.get_partition_keys()) == 31
    open_ended = daily_partitions(parse_config(MINIMAL, {}).monitors["churn"])
    assert open_ended.get_last_partition_key() > "2026-01-31"  # up to the last complete day
    text = MINIMAL.replace("2026-01-01\n", "2026-01-01\n    end_date: 2025-12-31\n")
    assert "end_date 2025-12-31 is before start_date 2026-01-01" in problems(text)


def test_the_demos_partitions_end_where_its_data_ends() -> None:
    from monitoring_pipelines.demo.generate import DEFAULT_START
    from monitoring_pipelines.partitions import daily_partitions

    for monitor in load_config(DEMO, {}).monitors.values():
        keys = daily_partitions(monitor).get_partition_keys()
        assert keys[0] == DEFAULT_START.isoformat() and len(keys) == 60
