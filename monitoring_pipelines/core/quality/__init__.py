"""Data quality: the Great Expectations adapter and schema changes of the source."""
