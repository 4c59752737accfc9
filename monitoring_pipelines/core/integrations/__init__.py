"""Other systems: OpenTelemetry GenAI spans in, Prometheus metrics out."""
