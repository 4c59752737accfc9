"""Which requests failed: a status column read as the service checks read it (HTTP codes by
default, or the statuses a monitor names), shared by the error rate, canaries and the data
quality of a log whose failed requests have no answer."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd


def classify_status(
    status: npt.NDArray[np.object_], error_statuses: list[str | int] | None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(is_error, unknown, missing) masks. Without ``error_statuses``, HTTP 5xx are errors and a
    status that is not an HTTP code (100-599) is unknown; with them, every present status is
    known. Mixed types compare as text: ``503``, ``503.0`` and ``"503"`` are the same status."""
    series = pd.Series(status, dtype=object)
    missing = series.isna().to_numpy()
    # Classify each distinct value once: a day has millions of rows and a handful of statuses.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if error_statuses is not None:
        wanted = {status_text(s) for s in error_statuses}
        error_of = np.array([status_text(u) in wanted for u in uniques] + [False])
        return error_of[codes], np.zeros_like(missing), missing
    numbers = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    number_of = np.append(numbers.to_numpy(dtype=np.float64, na_value=np.nan), np.nan)[codes]
    valid = (number_of >= 100) & (number_of <= 599) & (np.round(number_of) == number_of)
    return valid & (number_of >= 500), ~valid & ~missing, missing


def status_text(value: object) -> str:
    """A status as text: ``503``, ``503.0`` and ``"503"`` read the same."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().lower()
    try:  # "503.0" read from text is the same status as 503
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text
