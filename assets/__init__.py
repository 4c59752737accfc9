"""Dagster asset factories: one module per asset family, each a thin layer over the core."""

from assets.factory import build_monitor_assets

__all__ = ["build_monitor_assets"]
