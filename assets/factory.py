"""All assets of one monitor, named ``<monitor>/<asset>``."""

import dagster as dg

from assets.anomalies import make_anomalies
from assets.canary import make_canary
from assets.costs import make_token_costs
from assets.drift import make_feature_drift
from assets.hallucination import build_hallucination_assets
from assets.performance import make_performance
from assets.profile import make_daily_profile
from assets.quality import make_data_quality
from assets.reference import make_reference_profile
from assets.report import make_daily_report, report_upstream
from assets.review import build_review_assets
from assets.service import make_service_metrics
from assets.slice import make_live_slice
from assets.slo import has_slo_budget, make_slo_budget
from assets.windows import make_window_drift
from monitoring_pipelines.core.config import MonitorConfig


def build_monitor_assets(
    name: str, monitor: MonitorConfig, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """The monitor's asset family; what is built follows what the configuration names."""
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
        assets += build_hallucination_assets(name, monitor, partitions_def)
        assets += build_review_assets(name, monitor)
    if monitor.anomalies is not None and (monitor.service is not None or monitor.llm is not None):
        assets.append(make_anomalies(name, monitor, partitions_def))
    if monitor.canary is not None:
        assets.append(make_canary(name, monitor, partitions_def))
    upstream = report_upstream(name, [key for a in assets for key in a.keys])
    if upstream:
        assets.append(make_daily_report(name, monitor, partitions_def, upstream))
    return assets
