"""Fit once, count many times: reference bins, day sketches, whylogs profiles, windows."""
