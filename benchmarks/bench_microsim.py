"""Benchmark of the care-level microsimulation (issue #5): floor, ours, and the 150,000 x 10 annual case.

* floor: time to draw one uniform per person-cycle with ``numpy.random.default_rng().random`` (in
  chunks of 10 M, so the floor itself stays under 100 MB), in the same run;
* ours: :func:`wellness_research.microsim.project` with ``engine="microsim"``, both arms with common
  random numbers, 1,000,000 persons x 120 monthly cycles, the whole call (validation and coding of
  the DataFrame, tables, the compiled kernel on all cores, the ``Projection``); the numba compile is
  excluded by a warm-up call and reported separately;
* the 150,000 persons x 10 annual cycles projection (one call; a PSA draw costs about this);
* peak memory: the process's maximum resident set size (``resource.getrusage``), which includes the
  population DataFrames and the floor's chunks.

Targets (issue #5): ours <= 4 x floor; peak memory < 1 GB. The load average is printed because the
ratio is only meaningful on a quiet machine.

Usage: ``.venv/bin/python benchmarks/bench_microsim.py [n_persons]``
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np
import pandas as pd

from wellness_research.microsim import STATES, project
from wellness_research.microsim.engine import _n_threads


def population(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` persons aged 65-99, 45 % men, 80 % independent and the rest spread over the levels."""
    rng = np.random.default_rng(seed)
    age = rng.integers(65, 100, n)
    state = np.where(rng.random(n) < 0.8, 0, rng.integers(1, 8, n))
    return pd.DataFrame({"age": age, "sex": np.where(rng.random(n) < 0.45, "M", "F"),
                         "state": pd.Categorical.from_codes(state, categories=list(STATES[:-1]))})


def main(n: int = 1_000_000) -> None:
    load = os.getloadavg()
    t = time.perf_counter()
    project(population(1000), effect=0.8, seed=0, years=1)  # numba compile + parameters
    compile_s = time.perf_counter() - t
    pop = population(n)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    left = n * 120
    while left:
        k = min(left, 10_000_000)
        rng.random(k)
        left -= k
    floor = time.perf_counter() - t
    t = time.perf_counter()
    pr = project(pop, effect=0.8, seed=1, years=10, cycle="month")
    ours = time.perf_counter() - t
    pop150 = population(150_000)
    t = time.perf_counter()
    project(pop150, effect=0.8, seed=1, years=10, cycle="year")
    annual = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    averted = pr.occupancy[0, -1, 1:8].sum() - pr.occupancy[1, -1, 1:8].sum()
    print(f"cores: {os.cpu_count()}, kernel threads: {_n_threads()}, load average at start: "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"compile (first call, numba + parameters): {compile_s:.2f} s")
    print(f"floor (uniforms {n:,} x 120): {floor:.2f} s")
    print(f"ours (both arms, CRN, {n:,} x 120 monthly): {ours:.2f} s = {ours / floor:.2f} x floor "
          f"(target <= 4: {'met' if ours <= 4 * floor else 'NOT met'})")
    print(f"  certified at year 10, control - intervention (HR 0.8): {averted:,.0f} persons")
    print(f"150,000 x 10 annual: {annual:.3f} s")
    print(f"peak RSS: {rss:.0f} MiB (target < 1024: {'met' if rss < 1024 else 'NOT met'})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
