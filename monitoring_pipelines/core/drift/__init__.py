"""Drift verdicts of features and predictions from binned counts and bounded samples."""
