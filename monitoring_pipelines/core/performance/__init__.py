"""Model performance once delayed labels arrive, overall and per segment."""
