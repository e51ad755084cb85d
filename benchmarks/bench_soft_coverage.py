"""Coverage of the SOFT protocol's headline estimates over many synthetic municipalities (issue 6).

For each seed: regenerate the synthetic municipality (as ``load_analysis_data`` does for a notebook),
run the protocol's steps exactly as the notebooks do — :func:`~wellness_research.analysis.soft_cohort`,
:func:`~wellness_research.analysis.soft_matching`, :func:`~wellness_research.analysis.soft_certification`
(cluster bootstrap with the protocol's replicates) and :func:`~wellness_research.analysis.soft_costs` —
and record, for every finding that carries a truth, the estimate, its 95 % interval and whether the
interval covers the truth (the sample truth of the matched participants; see each step's docstring).

Run (about 100-150 s per "city" seed on one core; ``--workers`` processes)::

    .venv/bin/python benchmarks/bench_soft_coverage.py --size city --seeds 0-29 --workers 1

Appends one JSON line per seed and finding to ``benchmarks/results/bench_soft_coverage.jsonl`` (or
``--out``) and prints the summary; ``--summarize`` only re-reads the JSONL. A seed already in the file
is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def one_seed(size: str, seed: int, fiscal_year: int) -> list[dict]:
    """Every finding of one synthetic municipality (one row per finding)."""
    from wellness_research import analysis
    from wellness_research.pipeline import load_analysis_data
    from wellness_research.protocols import load_protocol

    t0 = time.perf_counter()
    data = load_analysis_data(synthetic_size=size, seed=seed)
    t_data = time.perf_counter() - t0
    proto = load_protocol("soft")
    cohort = analysis.soft_cohort(proto, data.tables, fiscal_year=fiscal_year)
    matching = analysis.soft_matching(proto, cohort)
    cert = analysis.soft_certification(proto, matching, cohort=cohort, truth=data.ground_truth)
    costs = analysis.soft_costs(proto, matching, data.tables, fiscal_year=fiscal_year, truth=data.ground_truth)
    seconds = time.perf_counter() - t0
    rows = []
    for f in (*cert.findings, *costs.findings):
        covers = None
        if f.truth is not None and all(math.isfinite(x) for x in (f.estimate, f.conf_low, f.conf_high, f.truth)):
            covers = bool(f.conf_low <= f.truth <= f.conf_high)
        rows.append({"size": size, "seed": seed, "fiscal_year": fiscal_year, "name": f.name, "estimate": f.estimate,
                     "conf_low": f.conf_low, "conf_high": f.conf_high, "truth": f.truth, "covers": covers, "n": f.n,
                     "n_participants": int(matching.matched.n_matched["treated"]),
                     "seconds_data": round(t_data, 1), "seconds": round(seconds, 1)})
    return rows


def summarize(path: Path) -> str:
    """Markdown table: per finding, seeds, coverage, mean error, mean interval half-width."""
    df = pd.read_json(path, lines=True)
    df = df[df["truth"].notna()]
    lines = ["| size | finding | seeds | coverage | mean (estimate - truth) | MC SE of the mean | "
             "SD (estimate - truth) | mean half-width / 1.96 |", "|---|---|---|---|---|---|---|---|"]
    for (size, name), g in df.groupby(["size", "name"], sort=True):
        err = g["estimate"] - g["truth"]
        half = (g["conf_high"] - g["conf_low"]) / 2 / 1.959964
        lines.append(f"| {size} | {name} | {len(g)} | {g['covers'].mean():.1%} | {err.mean():.4g} | "
                     f"{err.std(ddof=1) / math.sqrt(len(g)):.2g} | {err.std(ddof=1):.4g} | {half.mean():.4g} |")
    sec = df.groupby("seed")["seconds"].first()
    lines.append(f"\nseconds per seed: mean {sec.mean():.0f} (data {df.groupby('seed')['seconds_data'].first().mean():.0f})")
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="city")
    ap.add_argument("--seeds", default="0-29", help="a range '0-29' or a list '0,3,7'")
    ap.add_argument("--fiscal-year", type=int, default=2025)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_soft_coverage.jsonl")
    ap.add_argument("--summarize", action="store_true")
    a = ap.parse_args()
    if not a.summarize:
        done = set()
        if a.out.exists():
            old = pd.read_json(a.out, lines=True)
            done = set(old.loc[old["size"] == a.size, "seed"])
        todo = [s for s in _seeds(a.seeds) if s not in done]
        with ProcessPoolExecutor(max_workers=a.workers) as pool:
            for rows in pool.map(one_seed, [a.size] * len(todo), todo, [a.fiscal_year] * len(todo)):
                with a.out.open("a") as fh:
                    for r in rows:
                        fh.write(json.dumps(r) + "\n")
                print(f"seed {rows[0]['seed']}: {rows[0]['seconds']} s", flush=True)
    print(summarize(a.out))


if __name__ == "__main__":
    main()
