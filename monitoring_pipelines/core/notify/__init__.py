"""Notification channels behind one interface (Slack; more follow the same protocol)."""
