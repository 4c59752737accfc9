"""Example services instrumented for monitoring (not part of the installed distribution)."""
