"""Data quality: a day's slice validated with Great Expectations, and the source's schema changes.

Import-free on purpose: ``great_expectations`` is imported only by :mod:`.validate` and
:mod:`.expectations`, and only when a day is validated.

* :mod:`.suite`: the rules (:class:`QualityRules`) and the expectations derived from the
  reference profile (:func:`derive_suite`, :class:`QualitySuite`, :class:`ExpectationSpec`).
* :mod:`.batches`: the day read from the slice store in bounded, sampled batches
  (:func:`day_batches`, :func:`batch_rows`).
* :mod:`.counts`: the per-rule counting behind the custom GX metrics (pandas and numpy).
* :mod:`.expectations`: the custom GX metrics and expectations (:func:`gx_expectations`).
* :mod:`.validate`: the day validated batch by batch (:func:`validate_day`).
* :mod:`.results`: batch outcomes added up into :class:`ExpectationResult` and
  :class:`QualityReport`.
* :mod:`.check`: the ``data_quality`` check and stored numbers (:func:`quality_check`,
  :func:`quality_values`, :func:`quality_metrics`).
* :mod:`.schema`: schema changes of the source table and column snapshots.
"""
