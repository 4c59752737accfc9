"""Hostile input, faults and a new user's first week: one test per defect found this way, so
each stays fixed (run by ``make test``; the slow ones by ``make test-slow``)."""
