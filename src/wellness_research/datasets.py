"""Public benchmark data used to check the estimators against published results.

Only data that ship with a pinned dependency are offered here (no download at run time).
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from .errors import ConfigurationError

__all__ = ["DEHEJIA_WAHBA_COVARIATES", "lalonde"]

#: Covariates of the Dehejia–Wahba (1999, Table 2) propensity model for the NSW data.
DEHEJIA_WAHBA_COVARIATES = (
    "age", "age2", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75", "u74", "u75",
)


def lalonde(controls: Literal["cps", "nsw"] = "cps") -> pd.DataFrame:
    """The NSW treated men with CPS (observational) or NSW (experimental) controls.

    The Dehejia–Wahba sample as shipped by ``causaldata`` (``nsw_mixtape``, ``cps_mixtape``):
    185 NSW treated with 15,992 CPS controls, or with the 260 NSW experimental controls. Adds the
    Dehejia–Wahba model's derived covariates: ``age2`` (computed in float: ``age`` is stored as
    an 8-bit integer, whose square overflows), ``u74`` and ``u75`` (zero earnings in 1974/1975).

    Parameters
    ----------
    controls : {"cps", "nsw"}, default "cps"

    Returns
    -------
    pandas.DataFrame
        One row per man, ``treat`` 1/0, outcome ``re78``, the columns of
        :data:`DEHEJIA_WAHBA_COVARIATES`; a fresh 0..n−1 index.

    References
    ----------
    LaLonde, R. (1986). Evaluating the econometric evaluations of training programs with
    experimental data. American Economic Review 76(4), 604–620.
    Dehejia, R. and Wahba, S. (1999). Causal effects in nonexperimental studies. JASA 94(448),
    1053–1062.

    Examples
    --------
    >>> d = lalonde("nsw")
    >>> int(d["treat"].sum()), int((d["treat"] == 0).sum())
    (185, 260)
    """
    from causaldata import cps_mixtape, nsw_mixtape

    if controls not in ("cps", "nsw"):
        raise ConfigurationError(f"lalonde: controls={controls!r} is not valid; expected 'cps' or 'nsw'.")
    nsw = nsw_mixtape.load_pandas().data
    if controls == "cps":
        data = pd.concat([nsw[nsw["treat"] == 1], cps_mixtape.load_pandas().data], ignore_index=True)
    else:
        data = nsw.reset_index(drop=True)
    return data.assign(
        age2=data["age"].astype(float) ** 2,
        u74=(data["re74"] == 0).astype(int),
        u75=(data["re75"] == 0).astype(int),
    )
