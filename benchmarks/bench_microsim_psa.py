"""Benchmark: a 200-draw PSA on 150,000 persons × 10 annual cycles, both arms (issue #5).

Target: within 3 s on 2 cores (the plain numpy reference took 22.7 s, ANCHORS.md "Measured side
by side"). Each draw samples a hazard ratio on new certification (log-normal, HR 0.80, 95 % CI
0.64–1.00), the medical-cost multiplier of certified persons (gamma) and the LTC unit-price factor
(gamma), runs :func:`wellness_research.microsim.project` on both arms with common random numbers
and returns the discounted averted cost (LTC + medical) and the years without 要介護2+ gained.

The model is written the way a researcher would write it: the population is encoded once
(:func:`~wellness_research.microsim.engine.encode_population`) and every draw calls ``project``
on it. ``run_psa`` runs the draws in threads (its default ``prefer="threads"``; the kernel
releases the GIL) and, since the draws run in parallel, each draw's kernel in one thread.
``--backend loky`` times worker processes instead (the time to start them is reported apart).

Usage::

    .venv/bin/python benchmarks/bench_microsim_psa.py [--engine microsim|cohort] [--draws 200]
        [--persons 150000] [--n-jobs 2] [--backend loky]

Prints one JSON line with the timings. Exits with status 2 and a clear message when the
projection engine (``wellness_research.microsim.project``) is not available.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import pandas as pd

STATES = np.array(["independent", "要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5"])
# national level mix × 19 % certified (DOMAIN.md §2.1–2.2), rounded
STATE_P = np.array([0.81, 0.027, 0.026, 0.04, 0.032, 0.025, 0.024, 0.016])


def make_population(n: int, seed: int = 0) -> pd.DataFrame:
    """A synthetic 65+ population: ages 65–100 (exponential tail), 55 % women, the national mix."""
    rng = np.random.default_rng(seed)
    age = np.minimum(65 + rng.exponential(9.0, n).astype(int), 100)
    sex = np.where(rng.random(n) < 0.55, "F", "M")
    state = rng.choice(STATES, n, p=STATE_P / STATE_P.sum())
    return pd.DataFrame({"age": age, "sex": sex, "state": state})


def psa_model(params, seed, *, population, base, engine="microsim"):
    """One PSA draw: discounted averted cost and years without 要介護2+ gained (half-cycle, 2 %/yr)."""
    from wellness_research.microsim import project, projection_totals

    p = base.replace({
        "medical_costs.certified_multiplier": params["certified_multiplier"],
        "ltc_costs.unit_price_factor": params["unit_price_factor"],
    })
    pr = project(population, p, effect=params["hr"], years=10, cycle="year", engine=engine, seed=seed)
    diff = projection_totals(pr, method="half-cycle").loc["difference"]
    return {"averted_cost": diff["averted_cost"], "years_gained": diff["years_without_care2plus"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="microsim", choices=["microsim", "cohort"])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--persons", type=int, default=150_000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--backend", default=None, choices=["threading", "loky"],
                    help="joblib backend (default: run_psa's default, threads)")
    args = ap.parse_args()

    try:
        from wellness_research.microsim import load_parameters, project
        from wellness_research.microsim.engine import encode_population
    except ImportError as exc:
        print(f"PLACEHOLDER: the projection engine is missing ({exc}); nothing was timed.", file=sys.stderr)
        return 2

    from functools import partial

    from wellness_research.microsim.psa import Gamma, LogNormal, run_psa

    frame = make_population(args.persons)
    base = load_parameters()
    dists = {
        "hr": LogNormal.from_ci(0.8, 0.64, 1.0),
        "certified_multiplier": Gamma.from_mean_se(1.7, 0.2),
        "unit_price_factor": Gamma.from_mean_se(1.0, 0.05),
    }
    load0 = os.getloadavg()

    # warm-up (JIT compilation of the engine) on a small population, not timed
    t0 = time.perf_counter()
    project(frame.head(1000), base, effect=0.8, years=10, cycle="year", engine=args.engine, seed=1)
    warm = time.perf_counter() - t0

    t0 = time.perf_counter()
    pop = encode_population(frame, base)
    encode_seconds = time.perf_counter() - t0
    model = partial(psa_model, population=pop, base=base, engine=args.engine)
    one = {"hr": 0.8, "certified_multiplier": 1.7, "unit_price_factor": 1.0}

    t0 = time.perf_counter()
    model(one, 1)
    one_draw = time.perf_counter() - t0
    t0 = time.perf_counter()
    psa_model(one, 1, population=frame, base=base, engine=args.engine)
    one_draw_frame = time.perf_counter() - t0

    # Start the workers (processes with loky: start, imports, JIT in each; nothing much with threads);
    # the timed run reuses them. Reported separately as cold_start_seconds.
    t0 = time.perf_counter()
    run_psa(model, dists, n_draws=max(args.n_jobs, 1), seed=1, n_jobs=args.n_jobs, backend=args.backend,
            batch_size=1)
    cold = time.perf_counter() - t0

    # with processes, one batch per worker so the population is pickled once per worker
    batch = max(1, -(-args.draws // max(args.n_jobs, 1))) if args.backend == "loky" else "auto"
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = run_psa(model, dists, n_draws=args.draws, seed=20261128, n_jobs=args.n_jobs, backend=args.backend,
                  batch_size=batch)
    psa_seconds = time.perf_counter() - t0
    psa_cpu = time.process_time() - c0
    load1 = os.getloadavg()

    averted = res.wide("averted_cost")[""]
    # EVPI at a willingness to pay of 0 between "no programme" (0) and "programme" (averted cost)
    ev = float(np.maximum(averted, 0.0).mean() - max(averted.mean(), 0.0))
    out = {
        "benchmark": "microsim_psa",
        "engine": args.engine,
        "persons": args.persons,
        "cycles": 10,
        "cycle": "year",
        "draws": args.draws,
        "n_jobs": args.n_jobs,
        "backend": args.backend or "default (threads)",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "warmup_seconds": round(warm, 3),
        "encode_seconds": round(encode_seconds, 3),
        "one_draw_seconds": round(one_draw, 3),
        "one_draw_from_dataframe_seconds": round(one_draw_frame, 3),
        "cold_start_seconds": round(cold, 3),
        "psa_seconds": round(psa_seconds, 3),
        "psa_cpu_seconds_main_process": round(psa_cpu, 3),
        "target_seconds": 3.0,
        "within_target": psa_seconds <= 3.0,
        "numpy_reference_seconds": 22.7,
        "mean_averted_cost_yen": round(float(averted.mean())),
        "p_averted_cost_positive": round(float((averted > 0).mean()), 4),
        "mean_years_gained": round(float(res.wide("years_gained")[""].mean()), 3),
        "evpi_at_wtp0_yen": round(ev),
        "load_average_before_after": [round(load0[0], 2), round(load1[0], 2)],
        "note": "timed on a shared, busy machine unless stated otherwise (see load_average_before_after)",
    }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
