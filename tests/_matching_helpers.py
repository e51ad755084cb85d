"""Hand-built matched designs for the balance and effect tests (MatchResult built directly)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from wellness_research.matching.result import MatchResult


def hand_result(
    data: pd.DataFrame,
    *,
    weights: Sequence[float],
    subclass: Sequence[int],
    pairs: Sequence[tuple[int, int, int, float]] = (),
    covariates: Sequence[str] = (),
    treatment: str = "t",
    estimand: str = "att",
    replace: bool = False,
    propensity: Sequence[float] | None = None,
    distance: str = "given",
    method: str = "nearest",
) -> MatchResult:
    """A MatchResult with the given weights, subclasses and (subclass, treated, control, weight) pairs."""
    w = np.asarray(weights, dtype=float)
    return MatchResult(
        data=data.copy(),
        treatment=treatment,
        covariates=tuple(covariates),
        estimand=estimand,  # type: ignore[arg-type]
        method=method,
        distance=distance,
        caliper=None,
        ratio=1,
        replace=replace,
        exact=(),
        propensity=None if propensity is None else np.asarray(propensity, dtype=float),
        weights=w,
        subclass=np.asarray(subclass, dtype=np.int64),
        pairs=pd.DataFrame(list(pairs), columns=["subclass", "treated", "control", "weight"]).astype(
            {"subclass": "int64", "treated": "int64", "control": "int64", "weight": "float64"}
        ),
        status=np.where(w > 0, "matched", "unused"),
    )
