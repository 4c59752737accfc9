"""The result store: SQLAlchemy tables and repositories."""
