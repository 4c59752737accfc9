"""Robust day-over-baseline anomalies of operational metrics."""
