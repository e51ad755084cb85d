"""Japanese fiscal-year calendar (April–March) and age arithmetic shared by every module.

A fiscal year is named by the calendar year in which it starts: FY2025 runs from 1 April 2025 to
31 March 2026. Ages are whole years, with a birthday taken as the first day of the birth month,
because the resident register extract carries the birth year-month only (a quasi-identifier kept
coarse on purpose).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ConfigurationError

__all__ = ["age_at", "fiscal_year_bounds", "fiscal_year_of"]

_FIRST_FY, _LAST_FY = 2000, 2100


def fiscal_year_bounds(fiscal_year: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of a Japanese fiscal year.

    Parameters
    ----------
    fiscal_year : int
        The calendar year in which the fiscal year starts (FY2025 = April 2025 – March 2026).

    Returns
    -------
    tuple of pandas.Timestamp
        ``(start, end)``: 1 April of ``fiscal_year`` and 31 March of the next year, inclusive.

    Raises
    ------
    ConfigurationError
        If ``fiscal_year`` is not an integer between 2000 and 2100.

    Examples
    --------
    >>> fiscal_year_bounds(2025)
    (Timestamp('2025-04-01 00:00:00'), Timestamp('2026-03-31 00:00:00'))
    """
    if isinstance(fiscal_year, bool) or not isinstance(fiscal_year, (int, np.integer)):
        raise ConfigurationError(
            f"fiscal_year must be an integer year such as 2025; got {fiscal_year!r}."
        )
    if not _FIRST_FY <= int(fiscal_year) <= _LAST_FY:
        raise ConfigurationError(
            f"fiscal_year must lie between {_FIRST_FY} and {_LAST_FY}; got {fiscal_year}."
        )
    start = pd.Timestamp(year=int(fiscal_year), month=4, day=1)
    end = pd.Timestamp(year=int(fiscal_year) + 1, month=3, day=31)
    return start, end


def fiscal_year_of(dates: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Fiscal year (April–March) of each date; missing dates give ``<NA>``.

    Examples
    --------
    >>> fiscal_year_of(pd.Series(pd.to_datetime(["2025-03-31", "2025-04-01"]))).tolist()
    [2024, 2025]
    """
    d = pd.Series(pd.to_datetime(dates))
    fy = d.dt.year - (d.dt.month < 4).astype("int64")
    return fy.astype("Int64")


def age_at(birth_month: pd.Series, at: pd.Timestamp | str) -> pd.Series:
    """Age in whole years at a date, from the birth year-month.

    The birthday is taken as the first day of the birth month, so a person born in April 1950 is
    75 on 1 April 2025.

    Examples
    --------
    >>> age_at(pd.Series(pd.to_datetime(["1950-04-01", "1950-05-01"])), "2025-04-01").tolist()
    [75, 74]
    """
    at = pd.Timestamp(at)
    b = pd.Series(pd.to_datetime(birth_month))
    age = at.year - b.dt.year - (b.dt.month > at.month).astype("int64")
    return age.astype("Int64")
