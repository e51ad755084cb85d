"""Coverage of the matched cost DiD of SOFT over many synthetic municipalities (issue 4, known truth).

For each seed: generate the municipality, build the matched SOFT design and the person-month cost
panel (months -12..35 around the index month) and estimate the DiD of monthly cost with
:func:`wellness_research.did.twfe.did_2x2` (matched rows as units, months relative to the index month
as periods, matching weights, SEs clustered by person) — ``matched_cost_did`` in
``tests/test_did_panel.py`` — and record whether its 95 % interval covers

* ``truth_sample``: the ground truth's cost ATT (expected cost per person-month alive, treated minus
  untreated) over the matched participants, and
* ``truth_all``: ``soft_att_cost_month`` over all participants.

Target: 92–98 % coverage over at least 100 seeds. Run (about 15 s per "small" seed on one core of
a busy machine; ``--out`` names the JSONL file)::

    .venv/bin/python benchmarks/bench_did_coverage.py --size small --seeds 100 --workers 2

Writes ``benchmarks/results/bench_did_coverage.jsonl`` or ``--out`` (one line per seed, appended)
and prints the summary; ``--summarize`` only re-reads the JSONL.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _tests_module():
    spec = importlib.util.spec_from_file_location("_did_panel_tests", ROOT / "tests" / "test_did_panel.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def one_seed(size: str, seed: int) -> dict:
    from wellness_research.synthetic import make_municipality

    t0 = time.perf_counter()
    muni = make_municipality(size, seed=seed)
    r = _tests_module().matched_cost_did(muni, seed=seed)
    res = r.pop("result")
    del r["data"]
    lo, hi = r["conf_low"], r["conf_high"]
    r.update(df=res.df, n_clusters=res.n_clusters, size=size, seed=seed,
             covers_sample=bool(lo <= r["truth_sample"] <= hi), covers_all=bool(lo <= r["truth_all"] <= hi),
             seconds=time.perf_counter() - t0)
    return r


def summarize(path: Path) -> str:
    df = pd.read_json(path, lines=True)
    return (f"{len(df)} seeds ({', '.join(sorted(df['size'].unique()))}): coverage of truth_sample "
            f"{df.covers_sample.mean():.1%}, of truth_all {df.covers_all.mean():.1%}; mean estimate "
            f"{df.estimate.mean():,.0f}, mean truth_sample {df.truth_sample.mean():,.0f}, mean SE "
            f"{df.std_error.mean():,.0f}, SD of estimate - truth {(df.estimate - df.truth_sample).std():,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="small")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_did_coverage.jsonl")
    args = ap.parse_args()
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summarize:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        with ProcessPoolExecutor(max_workers=args.workers) as pool, out.open("a") as fh:
            for r in pool.map(one_seed, [args.size] * len(seeds), seeds):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                print(json.dumps(r))
    print(summarize(out))


if __name__ == "__main__":
    main()
