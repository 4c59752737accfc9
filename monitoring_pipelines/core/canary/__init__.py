"""Canary and shadow comparison of two model versions serving the same day."""
