"""All assets of one monitor, named ``<monitor>/<asset>``: what is built follows what the
configuration names."""

import dagster as dg

from assets.anomalies import make_anomalies
from assets.canary_comparison import make_canary
from assets.daily_profile import make_daily_profile
from assets.daily_report import daily_checks, make_daily_report, report_upstream
from assets.data_quality import make_data_quality
from assets.faithfulness_scores import make_faithfulness_scores
from assets.feature_drift import make_feature_drift
from assets.finetuning_dataset import make_finetuning_dataset
from assets.hallucination_kpi_impact import make_kpi_impact
from assets.hallucination_rate import make_hallucination_rate
from assets.judge_agreement import make_judge_agreement
from assets.live_slice import make_live_slice
from assets.output_safety import make_output_safety
from assets.parts import Part, assemble
from assets.performance import make_performance
from assets.reference_profile import make_reference_profile
from assets.service_metrics import make_service_metrics
from assets.slo_budget import has_slo_budget, make_slo_budget
from assets.token_costs import make_token_costs
from assets.window_drift import make_window_drift
from monitoring_pipelines.core.config import MonitorConfig
from monitoring_pipelines.core.hallucination.day import AnswerColumns
from monitoring_pipelines.core.safety.day import has_output_safety


def build_monitor_assets(
    name: str,
    monitor: MonitorConfig,
    partitions_def: dg.PartitionsDefinition,
    web_url: str | None = None,
) -> list[dg.AssetsDefinition]:
    """The monitor's asset family as Dagster definitions: its daily assets as one multi-asset,
    its unpartitioned ones as another (``assets/parts.py``); what is built follows what the
    configuration names (``web_url``: the web server the daily report's metadata links)."""
    return assemble(name, monitor_parts(name, monitor, partitions_def, web_url))


def monitor_parts(
    name: str,
    monitor: MonitorConfig,
    partitions_def: dg.PartitionsDefinition,
    web_url: str | None = None,
) -> list[Part]:
    """The monitor's assets, one :class:`Part` each."""
    assets = [make_live_slice(name, monitor, partitions_def)]
    if monitor.reference is not None:
        assets += [
            make_reference_profile(name, monitor),
            make_daily_profile(name, monitor, partitions_def),
            make_feature_drift(name, monitor, partitions_def),
            make_window_drift(name, monitor, partitions_def),
            make_data_quality(name, monitor, partitions_def),
        ]
    if monitor.labels is not None and monitor.prediction is not None:
        assets.append(make_performance(name, monitor, partitions_def))
    if monitor.service is not None:
        assets.append(make_service_metrics(name, monitor, partitions_def))
        if has_slo_budget(monitor):
            assets.append(make_slo_budget(name, monitor, partitions_def))
    if monitor.llm is not None:
        assets.append(make_token_costs(name, monitor, partitions_def))
        assets += hallucination_assets(name, monitor, partitions_def)
        if has_output_safety(monitor):
            assets.append(make_output_safety(name, monitor, partitions_def))
        assets += review_assets(name, monitor)
    anomalies = monitor.anomalies
    if anomalies is not None and anomalies.enabled and (monitor.service or monitor.llm):
        assets.append(make_anomalies(name, monitor, partitions_def))
    if monitor.canary is not None:
        assets.append(make_canary(name, monitor, partitions_def))
    upstream = report_upstream(name, [key for a in assets for key in a.keys])
    if upstream:
        checks = daily_checks(name, assets)
        assets.append(make_daily_report(name, monitor, partitions_def, upstream, checks, web_url))
    return assets


def hallucination_assets(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> list[Part]:
    """Scores and rate when the monitor logs LLM answers and their context, else none."""
    if AnswerColumns.for_monitor(monitor) is None:
        return []
    return [
        make_faithfulness_scores(name, monitor, partitions_def),
        make_hallucination_rate(name, monitor, partitions_def),
    ]


def review_assets(name: str, monitor: MonitorConfig) -> list[Part]:
    """The review loop's assets (unpartitioned: each reads every review or every stored day)
    when the monitor's answers are judged, else none."""
    if AnswerColumns.for_monitor(monitor) is None or monitor.llm is None:
        return []
    assets = [make_finetuning_dataset(name), make_judge_agreement(name)]
    if monitor.llm.kpi is not None:
        assets.append(make_kpi_impact(name, monitor))
    return assets
