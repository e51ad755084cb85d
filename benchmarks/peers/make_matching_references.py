"""Reference matches from causalml and pymatchit-causal on data without ties (issue #3, agreement).

Writes ``tests/reference/matching/nn_no_ties.csv`` (the data and, per treated unit, the control each
peer matched it to) and ``tests/reference/matching/nn_no_ties.json`` (tool versions, the command,
the peers' ATTs). ``tests/test_matching_agreement.py`` checks that ``wellness_research.matching``
gives the same matched control for every treated unit and the same ATT.

Design: three seeded synthetic data sets (60 treated, 400 controls, one normal covariate ``x``,
outcome ``y = 2·treat + x + noise``) with a continuous propensity score ``score = expit(x − 1.5)``
on the probability scale, so no two units share a score and the nearest control is unique.
Every tool gets the same score and matches 1:1 with replacement, without an effective caliper
(causalml requires one: 1e6 SD, which admits every pair). The ATT is the mean outcome of the
treated minus the mean of their matched controls (each control counted once per match).

Run in the peer environment (causalml and pymatchit-causal must not enter the core one)::

    .venv-peers/bin/python benchmarks/peers/make_matching_references.py
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[2] / "tests" / "reference" / "matching"
SEEDS = (0, 1, 2)


def no_tie_data(seed: int) -> pd.DataFrame:
    """The data of tests/test_matching_agreement.py::_no_tie_data (kept identical)."""
    rng = np.random.default_rng(seed)
    n_t, n_c = 60, 400
    x = np.r_[rng.normal(0.4, 1, n_t), rng.normal(0.0, 1, n_c)]
    score = 1 / (1 + np.exp(-(x - 1.5)))
    t = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    y = 2.0 * t + x + rng.normal(size=n_t + n_c)
    return pd.DataFrame({"treat": t, "x": x, "y": y, "score": score})


def causalml_controls(d: pd.DataFrame) -> pd.Series:
    """Matched control row per treated row (causalml NearestNeighborMatch, with replacement)."""
    from causalml.match import NearestNeighborMatch

    m = NearestNeighborMatch(caliper=1e6, replace=True, ratio=1, random_state=0)
    m.match(data=d, treatment_col="treat", score_cols=["score"])
    pairs = m.matched_indexes_
    if pairs["from"].duplicated().any():
        raise RuntimeError("causalml returned more than one control for a treated unit")
    return pd.Series(pairs["to"].to_numpy(), index=pairs["from"].to_numpy())


def pymatchit_controls(d: pd.DataFrame) -> pd.Series:
    """Matched control row per treated row (pymatchit-causal nearest, with replacement)."""
    from pymatchit import MatchIt

    m = MatchIt(d.copy(), method="nearest", distance=d["score"].to_numpy(), replace=True, estimand="ATT")
    m.fit("treat ~ x")
    mi = m.matched_indices
    if isinstance(mi, dict):
        out = {k: (v[0] if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in mi.items()}
        lens = {k: len(v) for k, v in mi.items() if isinstance(v, (list, tuple, np.ndarray))}
        if any(n != 1 for n in lens.values()):
            raise RuntimeError("pymatchit-causal returned more than one control for a treated unit")
        return pd.Series(out)
    mi = pd.DataFrame(mi)
    if mi.shape[1] != 1:
        raise RuntimeError(f"unexpected matched_indices shape {mi.shape}")
    return mi.iloc[:, 0]


def att(d: pd.DataFrame, controls: pd.Series) -> float:
    return float(d.loc[controls.index, "y"].mean() - d.loc[controls.to_numpy(), "y"].mean())


def main() -> None:
    frames = []
    atts: dict[str, dict[str, float]] = {}
    for seed in SEEDS:
        d = no_tie_data(seed)
        if d["score"].nunique() != len(d):
            raise RuntimeError("the score has ties")
        cm, pm = causalml_controls(d), pymatchit_controls(d)
        out = d.copy()
        out.insert(0, "row", np.arange(len(d)))
        out.insert(0, "seed", seed)
        out["causalml_control"] = pd.Series(cm).reindex(d.index).astype("Int64")
        out["pymatchit_control"] = pd.Series(pm).reindex(d.index).astype("Int64")
        frames.append(out)
        atts[str(seed)] = {"causalml": att(d, cm), "pymatchit-causal": att(d, pm)}
    table = pd.concat(frames, ignore_index=True)
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "nn_no_ties.csv", index=False, float_format="%.17g")
    meta = {
        "produced_by": "benchmarks/peers/make_matching_references.py",
        "command": ".venv-peers/bin/python benchmarks/peers/make_matching_references.py",
        "python": sys.version.split()[0],
        "tools": {p: version(p) for p in ("causalml", "pymatchit-causal", "numpy", "pandas", "scikit-learn")},
        "design": "1:1 nearest neighbour with replacement on the given probability-scale score; "
        "causalml caliper=1e6 SD (admits every pair), pymatchit-causal no caliper",
        "columns": "causalml_control / pymatchit_control: row (0-based) of the control matched to "
        "each treated row; empty for controls",
        "att": atts,
    }
    (OUT / "nn_no_ties.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
