"""Column comparisons that stay fast on tables of millions of rows (claims)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["equals_str"]


def equals_str(column: pd.Series, value: str) -> np.ndarray:
    """``(column.astype(str) == value).to_numpy()``, without turning every row into a string.

    A categorical column is compared on its categories and the row codes look the answer up
    (``str()`` of a 21-million-row claims column took seconds per call); other columns are
    converted as before.

    Parameters
    ----------
    column : pandas.Series
    value : str

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> s = pd.Series(["inpatient", "outpatient", None, "inpatient"], dtype="category")
    >>> equals_str(s, "inpatient").tolist()
    [True, False, False, True]
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        # a missing value (code -1, the appended last entry) becomes the string "nan" under astype(str)
        hit = np.append(np.asarray(column.cat.categories.astype(str) == value), str(np.nan) == value)
        return hit[column.cat.codes.to_numpy()]
    return (column.astype(str) == value).to_numpy()
