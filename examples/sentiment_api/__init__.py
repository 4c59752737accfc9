"""A sentiment API over the VADER lexicon, traced with OpenTelemetry and scraped by Prometheus.

Run it with ``uvicorn --factory examples.sentiment_api.app:create_app``; see its README.md.
"""
