"""Produce tests/reference/did/wildboottest_0.3.2.json (wild cluster restricted bootstrap p-values).

Run with the peer venv (never the package venv):
    .venv-did-peers/bin/python benchmarks/peers/make_wildboottest_reference.py
Tool: wildboottest 0.3.2 (s3alfisc/wildboottest) on statsmodels OLS with time dummies,
``wildboottest(model, param="x", cluster=g, B=9999, weights_type="rademacher", impose_null=True,
bootstrap_type="11", seed=1)``. With G <= 10 clusters and 2^G < B wildboottest enumerates all sign
vectors, so its p-values are deterministic. The data are stored in the JSON next to the results.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from wildboottest.wildboottest import wildboottest

CASES = [(8, 0.2), (8, 0.1), (10, 0.15)]


def main() -> None:
    out = {"tool": "wildboottest", "version": version("wildboottest"), "statsmodels": version("statsmodels"),
           "command": "wildboottest(sm.OLS(y, [1, x, time dummies]), param='x', cluster=g, B=9999, "
                      "weights_type='rademacher', impose_null=True, bootstrap_type='11', seed=1)",
           "cases": []}
    for n_clusters, slope in CASES:
        rng = np.random.default_rng(n_clusters * 100 + int(slope * 100))
        g = np.repeat(np.arange(n_clusters), 6)
        t = np.tile(np.arange(6), n_clusters)
        x = rng.normal(size=g.size)
        y = slope * x + rng.normal(size=n_clusters)[g] + rng.normal(size=g.size)
        design = pd.get_dummies(pd.DataFrame({"x": x, "t": t.astype(str)}), columns=["t"], drop_first=True,
                                dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "2^G < the number of boot iterations, setting full_enumeration"
            res = wildboottest(sm.OLS(y, sm.add_constant(design)), param="x", cluster=g, B=9999,
                               weights_type="rademacher", impose_null=True, bootstrap_type="11", seed=1)
        out["cases"].append({
            "n_clusters": n_clusters, "slope": slope,
            "t_stat": float(res["statistic"].iloc[0]), "p_value": float(res["p-value"].iloc[0]),
            "data": {"y": y.tolist(), "x": x.tolist(), "g": g.tolist(), "t": t.tolist()},
        })
    path = Path(__file__).resolve().parents[2] / "tests" / "reference" / "did" / f"wildboottest_{out['version']}.json"
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
