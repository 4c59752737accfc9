"""Model performance once delayed labels arrive, overall and per segment.

Additive statistics (:mod:`.additive`), the metrics (:mod:`.metrics`), what a monitor configures
(:mod:`.policy`), the baseline a day is compared with (:mod:`.baseline`), a day's predictions and
labels evaluated (:mod:`.day`), the ``performance`` check (:mod:`.check`) and the same per segment
value (:mod:`.segments`).
"""
