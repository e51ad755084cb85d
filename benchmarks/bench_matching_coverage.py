"""Coverage of the matched SOFT estimate over many synthetic municipalities (issue #3, known truth).

For each seed: generate the municipality, build the SOFT analysis frame
(:func:`wellness_research.cohort.soft_frame`, the design in ``tests/test_matching_recovery.py``),
match 1:1 nearest neighbour on the logit propensity score (caliper 0.2 SD, exact on district),
estimate the ATT risk difference with the cluster-robust SE on pairs, and record whether the 95 % interval covers

* ``truth_sample``: the exact ATT (common random numbers) over the participants analysed, and
* ``truth_full``: the ground truth's ``soft_att_risk3y_full_followup``,

plus the naive (unadjusted) difference. The summary also reports coverage of the across-seed mean
of ``truth_sample`` (an estimate of the population ATT) and the mean bias of both estimators.

Run (2 cores; about 45 s per "city" seed, results appended per seed so a partial run is usable)::

    .venv/bin/python benchmarks/bench_matching_coverage.py --size city --seeds 100 --workers 2

Writes ``benchmarks/results/bench_matching_coverage.jsonl`` (one line per seed) and
``benchmarks/results/bench_matching_coverage.md`` (the summary). ``--summarize`` only re-reads the
JSONL. The analysis frame is :func:`wellness_research.cohort.soft_frame` (defaults); the naive
difference and the sample truth are still loaded from the test file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _recovery_module():
    spec = importlib.util.spec_from_file_location("_recovery", ROOT / "tests" / "test_matching_recovery.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_seed(size: str, seed: int) -> dict:
    from wellness_research.cohort import soft_frame
    from wellness_research.matching import estimate_effect, match
    from wellness_research.synthetic import make_municipality

    rec = _recovery_module()
    t0 = time.perf_counter()
    muni = make_municipality(size, seed=seed)
    frame = soft_frame(muni.tables, seed=seed).data
    t1 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = match(frame, treatment="soft", covariates=list(rec.COVARIATES), exact=["district"], caliper=0.2)
        eff = estimate_effect(m, outcome="certified_36m")
    t2 = time.perf_counter()
    return {
        "size": size, "seed": seed,
        "n_treated_frame": int(frame.soft.sum()), "n_control_frame": int((frame.soft == 0).sum()),
        "n_treated_matched": m.n_matched["treated"],
        "estimate": eff.estimate, "std_error": eff.std_error, "conf_low": eff.conf_low, "conf_high": eff.conf_high,
        "naive": rec.naive_difference(frame),
        "truth_sample": rec.sample_truth(frame, muni.truth),
        "truth_full": float(muni.truth.estimands["soft_att_risk3y_full_followup"]),
        "truth_full_n": int(muni.truth.counts["soft_att_risk3y_full_followup"]),
        "warnings": sorted({type(w.message).__name__ for w in caught}),
        "seconds_data": t1 - t0, "seconds_match_effect": t2 - t1,
    }


def summarize(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    df = pd.DataFrame(rows).drop_duplicates(["size", "seed"], keep="last")
    lines = [f"# Coverage of the matched SOFT ATT (3-year new certification), {len(df)} seeds", ""]
    for size, g in df.groupby("size"):
        patt = g["truth_sample"].mean()
        cov = lambda truth: float(((g.conf_low <= truth) & (truth <= g.conf_high)).mean())  # noqa: E731
        k = len(g)
        mc_se = math.sqrt(0.95 * 0.05 / k)
        lines += [
            f"## size={size!r}, seeds {g.seed.min()}–{g.seed.max()} (n = {k})", "",
            "| statistic | value |", "|---|---|",
            f"| treated analysed per seed (mean) | {g.n_treated_frame.mean():.1f} |",
            f"| treated matched per seed (mean) | {g.n_treated_matched.mean():.1f} |",
            f"| coverage of truth_sample (exact SATT of analysed participants) | {cov(g.truth_sample):.3f} |",
            f"| coverage of truth_full (ground truth soft_att_risk3y_full_followup) | {cov(g.truth_full):.3f} |",
            f"| coverage of mean truth_sample across seeds (≈ PATT {patt:.4f}) | {cov(patt):.3f} |",
            f"| Monte Carlo SE of a 95 % coverage with {k} seeds | {mc_se:.3f} |",
            f"| mean (matched − truth_sample) | {(g.estimate - g.truth_sample).mean():.4f} "
            f"(SE {(g.estimate - g.truth_sample).std(ddof=1) / math.sqrt(k):.4f}) |",
            f"| mean (naive − truth_sample) | {(g.naive - g.truth_sample).mean():.4f} "
            f"(SE {(g.naive - g.truth_sample).std(ddof=1) / math.sqrt(k):.4f}) |",
            f"| SD of matched estimate / mean SE | {g.estimate.std(ddof=1):.4f} / {g.std_error.mean():.4f} |",
            f"| seconds per seed: data + frame / match + effect | {g.seconds_data.mean():.1f} / "
            f"{g.seconds_match_effect.mean():.2f} |",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="city")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_matching_coverage.jsonl")
    args = ap.parse_args()
    if not args.summarize:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        with ProcessPoolExecutor(max_workers=args.workers) as pool, args.out.open("a") as fh:
            for row in pool.map(run_seed, [args.size] * len(seeds), seeds):
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                print(f"seed {row['seed']}: est {row['estimate']:+.4f} [{row['conf_low']:+.4f}, {row['conf_high']:+.4f}]"
                      f" truth {row['truth_sample']:+.4f} naive {row['naive']:+.4f}", flush=True)
    text = summarize(args.out)
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
