"""Sensors: the alerting pass over check evaluations, and new labels."""
