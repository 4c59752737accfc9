"""``monitoring report`` renders any stored day from the terminal, on SQLite and PostgreSQL,
without a Dagster run: to the reports folder the web server and the asset use, to a file, or to
standard output."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from monitoring_pipelines.cli import main
from monitoring_pipelines.core.alerting.store import AlertRepository
from monitoring_pipelines.core.store.results import ResultRepository
from tests.unit.test_report import CONFIG, DAY, MONITOR, record_checks, seed


def cli(store_url: str, tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "monitors.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {
        "MONITORING_STORE_URL": store_url,
        "MONITORING_HOME": str(tmp_path / "home"),
        "MONITORING_CONFIG": str(config),
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),
    }
    return CliRunner().invoke(main, list(args), env=env)


def test_a_stored_day_is_rendered_where_the_reports_live(
    store: AlertRepository, results: ResultRepository, store_url: str, tmp_path: Path
) -> None:
    seed(results)
    record_checks(store)
    done = cli(store_url, tmp_path, "report", "--monitor", MONITOR, "--day", DAY.isoformat())
    assert done.exit_code == 0, done.output
    path = tmp_path / "home" / "reports" / MONITOR / f"{DAY}.html"
    assert done.output.startswith(f"report: {path} (2 of ")
    html = path.read_text(encoding="utf-8")
    counted = re.search(rf"2 of (\d+) checks failed on {DAY}; (\d+) not evaluated", html)
    assert counted, html[:2000]
    total, missing = int(counted.group(1)), int(counted.group(2))
    assert total - missing == 4  # volume, feature_drift, latency_slo, error_rate were recorded
    assert '<tr class="critical"><td>amount</td>' in html
    assert "Confusion matrix of" in html
    assert not (tmp_path / "home" / "dagster" / "history").exists()  # no run was launched


def test_out_writes_a_file_or_standard_output(
    results: ResultRepository, store_url: str, tmp_path: Path
) -> None:
    seed(results)
    out = tmp_path / "elsewhere" / "day.html"
    done = cli(
        store_url, tmp_path, "report", "--monitor", MONITOR, "--day", str(DAY), "--out", str(out)
    )
    assert done.exit_code == 0, done.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not (tmp_path / "home" / "reports").exists()
    printed = cli(
        store_url, tmp_path, "report", "--monitor", MONITOR, "--day", str(DAY), "--out", "-"
    )
    assert printed.exit_code == 0
    assert printed.output.startswith("<!DOCTYPE html>") and printed.output.endswith("</html>\n")


def test_an_unknown_monitor_or_a_day_outside_its_partitions_is_refused(
    store_url: str, tmp_path: Path
) -> None:
    unknown = cli(store_url, tmp_path, "report", "--monitor", "nope", "--day", str(DAY))
    assert unknown.exit_code == 2 and "unknown monitor 'nope'; known: shop" in unknown.output
    early = cli(store_url, tmp_path, "report", "--monitor", MONITOR, "--day", "2020-01-01")
    assert early.exit_code == 2 and "2020-01-01" in early.output
