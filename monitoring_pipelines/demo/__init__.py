"""The demo: three production systems' logs with known incidents, written to a SQL warehouse."""

from monitoring_pipelines.demo.events import DemoEvent
from monitoring_pipelines.demo.generate import DemoSummary, generate_demo

__all__ = ["DemoEvent", "DemoSummary", "generate_demo"]
