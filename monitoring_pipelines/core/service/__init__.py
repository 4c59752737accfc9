"""Service metrics: latency, errors, breakdowns, SLO error budgets and burn rates."""
