"""Alerting: incident policy, families, ingest of findings, follow-ups, delivery."""
