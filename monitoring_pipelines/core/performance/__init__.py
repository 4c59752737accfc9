"""Model performance once delayed labels arrive, overall and per segment.

* :mod:`.additive`: statistics that add across rows and days (:class:`Confusion`,
  :class:`ErrorSums`, :class:`Auc`, :func:`roc_auc`).
* :mod:`.metrics`: the metrics of a day or period (:class:`PerformanceStats`,
  :func:`compute_performance`) and their result-store rows.
* :mod:`.policy`: what the monitor configures (:class:`PerformancePolicy`,
  :class:`PerformanceSpec`).
* :mod:`.check`: the day against its baseline (:func:`pooled_baseline`, :func:`compare`,
  :func:`judge`) and the ``performance`` check.
* :mod:`.segments`: the same per segment value, Benjamini-Hochberg-adjusted.
* :mod:`.baseline`: the baseline a day is compared with (:func:`resolve_baseline`).
* :mod:`.day`: a day's predictions and labels evaluated (:func:`read_predictions`,
  :func:`evaluate_day`).
"""
