"""Wall time of ``wellness_research.matching.match`` at the sizes named in issue #3 (ours only).

Three cases, each timed end to end (propensity fit included unless stated), median of ``--repeat``
runs:

1. 10,000 treated × 1,000,000 controls, 10 covariates, 1:1 nearest neighbour **with** replacement,
   caliper 0.2 SD of the logit: statsmodels logit fit + matching; also the matching step alone
   (``distance="given"`` with the fitted score).
2. The same data **without** replacement (greedy, largest first, union–find skips).
3. City scale: 2,000 participants vs 140,000 residents, exact on sex × age band (6) × district (20),
   logit caliper inside strata, without replacement.

Peer tools are benchmarked elsewhere (a separate environment). Run from the repository root::

    .venv/bin/python benchmarks/bench_matching.py              # all cases, 3 repeats
    .venv/bin/python benchmarks/bench_matching.py --repeat 1   # quicker

Targets (issue #3): case 1 within 1.5 s on 2 cores, case 2 within 3 s, case 3 within 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from wellness_research.matching import match


def synthetic(n_treated: int, n_control: int, p: int = 10, seed: int = 20261128) -> pd.DataFrame:
    """Treated and controls with shifted normal covariates (no ties in the score)."""
    rng = np.random.default_rng(seed)
    xt = rng.normal(0.3, 1.0, size=(n_treated, p))
    xc = rng.normal(0.0, 1.0, size=(n_control, p))
    X = np.vstack([xt, xc])
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    df.insert(0, "treat", np.r_[np.ones(n_treated, dtype=np.int8), np.zeros(n_control, dtype=np.int8)])
    return df


def city(seed: int = 7) -> pd.DataFrame:
    """About 2,000 participants among 140,000 residents with sex, age band and district."""
    rng = np.random.default_rng(seed)
    n = 142_000
    df = pd.DataFrame(
        {
            "sex": rng.integers(0, 2, n),
            "age_band": rng.integers(0, 6, n),
            "district": rng.integers(0, 20, n),
            "frailty": rng.normal(size=n),
            "n_visits": rng.poisson(3, n).astype(float),
            "income": rng.lognormal(8, 0.5, n),
        }
    )
    eta = -4.95 + 0.4 * df["frailty"] + 0.1 * df["n_visits"] + 0.1 * df["age_band"]
    df["treat"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
    return df


def timed(fn, repeat: int) -> tuple[float, object]:
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # timing only; warnings are tested in tests/test_matching.py

    df = synthetic(10_000, 1_000_000)
    cov = [c for c in df.columns if c.startswith("x")]
    t, m = timed(lambda: match(df, treatment="treat", covariates=cov, replace=True), args.repeat)
    print(f"1. 10k x 1M with replacement, fit + match:    {t:6.2f} s  matched {m.n_matched}")
    score = m.propensity
    t, m = timed(
        lambda: match(df, treatment="treat", covariates=cov, replace=True, distance="given", score=score),
        args.repeat,
    )
    print(f"   matching step alone (score given, prob):  {t:6.2f} s  matched {m.n_matched}")
    t, m = timed(lambda: match(df, treatment="treat", covariates=cov, replace=False), args.repeat)
    print(f"2. 10k x 1M without replacement, fit + match: {t:6.2f} s  matched {m.n_matched}")
    t, m = timed(
        lambda: match(df, treatment="treat", covariates=cov, replace=False, distance="given", score=score),
        args.repeat,
    )
    print(f"   matching step alone (score given, prob):  {t:6.2f} s  matched {m.n_matched}")

    c = city()
    print(f"   city: {int(c['treat'].sum())} treated, {int((1 - c['treat']).sum())} controls")
    t, m = timed(
        lambda: match(
            c, treatment="treat", covariates=["frailty", "n_visits", "income"],
            exact=["sex", "age_band", "district"],
        ),
        args.repeat,
    )
    counts = m.unmatched_counts()
    print(f"3. city, exact sex x age x district + caliper: {t:6.2f} s  matched {m.n_matched}")
    print(counts.to_string())


if __name__ == "__main__":
    main()
