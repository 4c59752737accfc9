"""All assets of one monitor, named ``<monitor>/<asset>``."""

import dagster as dg

from assets.costs import make_token_costs
from assets.drift import make_feature_drift
from assets.performance import make_performance
from assets.profile import make_daily_profile
from assets.quality import make_data_quality
from assets.reference import make_reference_profile
from assets.report import make_daily_report, report_upstream
from assets.service import make_service_metrics
from assets.slice import make_live_slice
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
    if monitor.llm is not None:
        assets.append(make_token_costs(name, monitor, partitions_def))
    upstream = report_upstream(name, [key for a in assets for key in a.keys])
    if upstream:
        assets.append(make_daily_report(name, monitor, partitions_def, upstream))
    return assets
