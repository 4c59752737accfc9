"""Thin Dagster resources around the core: warehouse, result store, slices, notifiers, judge."""

from resources.judge import JudgeResource
from resources.pagerduty import PagerDutyResource
from resources.slack import SlackResource
from resources.slices import SliceStoreResource
from resources.store import ResultStoreResource
from resources.warehouse import WarehouseResource

__all__ = [
    "JudgeResource",
    "PagerDutyResource",
    "ResultStoreResource",
    "SlackResource",
    "SliceStoreResource",
    "WarehouseResource",
]
