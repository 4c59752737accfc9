"""Model performance once delayed labels arrive, overall and per segment.

Additive statistics (:mod:`.additive`), the metrics (:mod:`.metrics`), what a monitor configures
(:mod:`.policy`), the ``performance`` check against its baseline (:mod:`.check`) and the same
per segment value (:mod:`.segments`).
"""
