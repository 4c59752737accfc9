"""Data quality: a day's slice validated with Great Expectations, and the source's schema changes.

Importing the package imports no Great Expectations: only :mod:`.validate` and
:mod:`.expectations` do, and only when a day is validated.
"""
