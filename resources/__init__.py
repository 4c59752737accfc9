"""Thin Dagster resources around the core: warehouse, result store, slices, Slack."""

from resources.slack import SlackResource
from resources.slices import SliceStoreResource
from resources.store import ResultStoreResource
from resources.warehouse import WarehouseResource

__all__ = ["ResultStoreResource", "SlackResource", "SliceStoreResource", "WarehouseResource"]
