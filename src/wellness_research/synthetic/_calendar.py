"""Month and day arithmetic of the generator.

Months are integers counted from the first month of the period (April 2019 = 0); days are integers
counted from 1970-01-01 (numpy ``datetime64[D]``). Integer arithmetic keeps the generator exact and
fast; tables are converted to ``datetime64[ns]`` only when they are assembled.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigurationError

__all__ = [
    "NO_DAY",
    "days_to_datetime",
    "month_index",
    "month_length",
    "month_start_day",
    "months_to_datetime",
]


def month_index(label: str, *, origin: str = "2019-04") -> int:
    """Months from ``origin`` to ``label`` (both ``YYYY-MM``)."""
    try:
        m = np.datetime64(label, "M")
        o = np.datetime64(origin, "M")
    except ValueError:
        raise ConfigurationError(f"expected a month as 'YYYY-MM'; got {label!r}.") from None
    return int((m - o).astype(np.int64))


def month_start_day(months: np.ndarray | int, *, origin: str = "2019-04") -> np.ndarray:
    """Day number (days since 1970-01-01) of the first day of each month index."""
    m = np.datetime64(origin, "M") + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")
    return m.astype("datetime64[D]").astype(np.int64)


def month_length(months: np.ndarray | int, *, origin: str = "2019-04") -> np.ndarray:
    """Number of days in each month index."""
    months = np.asarray(months, dtype=np.int64)
    return month_start_day(months + 1, origin=origin) - month_start_day(months, origin=origin)


#: Internal marker of "no date" (far in the future, so that ``min`` with it is a no-op).
NO_DAY = 2**31


def days_to_datetime(days: np.ndarray) -> np.ndarray:
    """``datetime64[ns]`` from day numbers; :data:`NO_DAY` becomes NaT."""
    days = np.asarray(days, dtype=np.int64)
    out = np.where(days == NO_DAY, 0, days).astype("datetime64[D]").astype("datetime64[ns]")
    out[days == NO_DAY] = np.datetime64("NaT")
    return out


def months_to_datetime(months: np.ndarray, *, origin: str = "2019-04") -> np.ndarray:
    """``datetime64[ns]`` of the first day of each month index."""
    return month_start_day(months, origin=origin).astype("datetime64[D]").astype("datetime64[ns]")
