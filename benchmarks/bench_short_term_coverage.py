"""Coverage of the short-term service protocol's estimates over many synthetic municipalities (issue 7).

For each seed: generate the synthetic municipality, run the protocol's steps as the notebooks do —
:func:`~wellness_research.analysis.short_term.short_term_risk_model`, ``short_term_cohort`` for both
comparisons, ``short_term_matching`` (risk score as a covariate, 1:k without replacement),
``short_term_outcomes`` (cluster bootstrap with the protocol's replicates, or ``--n-boot``) and
``short_term_costs`` — and record, for every finding that carries a truth, the estimate, its 95 %
interval and whether it covers the truth (the sample truth of the matched participants). The primary
is ``risk_difference_3y`` (comparison 1, assessed but not participating); comparison 2 (never
reached) findings end in ``_never_reached`` and are expected to cover less well (frailty the
covariates miss), which is what the benchmark is there to show.

Run (roughly 40 s per "small" seed and several minutes per "city" seed on one busy core)::

    .venv/bin/python benchmarks/bench_short_term_coverage.py --size small --seeds 0-49 --workers 1
    .venv/bin/python benchmarks/bench_short_term_coverage.py --size city --seeds 0-9

``--costs-only`` runs comparison 1's cost difference-in-differences alone (no outcome bootstrap, about
45 s per city seed), for checking its interval over many more seeds than the full run affords::

    .venv/bin/python benchmarks/bench_short_term_coverage.py --size city --seeds 0-63 --costs-only \
        --out benchmarks/results/bench_short_term_cost_did.jsonl

Appends one JSON line per seed and finding to ``benchmarks/results/bench_short_term_coverage.jsonl``
(or ``--out``) and prints the summary; ``--summarize`` only re-reads the JSONL. A seed already in the
file (same size) is skipped, so an interrupted run resumes.
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


def one_seed(size: str, seed: int, fiscal_year: int, n_boot: int | None, costs_only: bool = False) -> list[dict]:
    """Every finding with a truth of one synthetic municipality (one row per finding).

    ``costs_only``: comparison 1 (the protocol's first) and its cost findings only.
    """
    from wellness_research.analysis import short_term as st
    from wellness_research.protocols import load_protocol
    from wellness_research.synthetic import make_municipality

    t0 = time.perf_counter()
    muni = make_municipality(size, seed=seed)
    t_data = time.perf_counter() - t0
    proto = load_protocol("short_term")
    risk = st.short_term_risk_model(proto, muni.tables)
    findings, n_part = [], {}
    names = [c["name"] for c in proto.get("comparisons")][: 1 if costs_only else None]
    cohorts = {name: st.short_term_cohort(proto, muni.tables, fiscal_year=fiscal_year, comparison=name)
               for name in names}
    naive = cohorts.get(proto.get("analyses.naive.comparison"))
    for name, cohort in cohorts.items():
        matching = st.short_term_matching(proto, cohort, risk_model=risk)
        if not costs_only:
            findings += st.short_term_outcomes(proto, matching, cohort=cohort, truth=muni.truth, naive_cohort=naive,
                                               n_bootstrap=n_boot).findings
        findings += st.short_term_costs(proto, matching, muni.tables, fiscal_year=fiscal_year,
                                        truth=muni.truth).findings
        n_part[name] = int(matching.matched.n_matched["treated"])
    seconds = time.perf_counter() - t0
    rows = []
    for f in findings:
        if f.truth is None:
            continue
        covers = None
        if all(math.isfinite(x) for x in (f.estimate, f.conf_low, f.conf_high, f.truth)):
            covers = bool(f.conf_low <= f.truth <= f.conf_high)
        rows.append({"size": size, "seed": seed, "fiscal_year": fiscal_year, "name": f.name, "estimate": f.estimate,
                     "conf_low": f.conf_low, "conf_high": f.conf_high, "truth": f.truth, "covers": covers, "n": f.n,
                     "n_matched_participants": n_part, "seconds_data": round(t_data, 1), "seconds": round(seconds, 1)})
    return rows


def summarize(path: Path) -> str:
    """Markdown table: per finding, seeds, coverage, mean error, interval half-width."""
    df = pd.read_json(path, lines=True)
    df = df[df["truth"].notna() & df["covers"].notna()]
    lines = ["| size | finding | seeds | coverage | mean (estimate - truth) | MC SE of the mean | "
             "SD (estimate - truth) | mean half-width / 1.96 |", "|---|---|---|---|---|---|---|---|"]
    for (size, name), g in df.groupby(["size", "name"], sort=True):
        err = g["estimate"] - g["truth"]
        half = (g["conf_high"] - g["conf_low"]) / 2 / 1.959964
        se = err.std(ddof=1) / math.sqrt(len(g)) if len(g) > 1 else math.nan
        lines.append(f"| {size} | {name} | {len(g)} | {g['covers'].astype(bool).mean():.1%} | {err.mean():.4g} | "
                     f"{se:.2g} | {err.std(ddof=1):.4g} | {half.mean():.4g} |")
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
    ap.add_argument("--size", default="small")
    ap.add_argument("--seeds", default="0-49", help="a range '0-49' or a list '0,3,7'")
    ap.add_argument("--fiscal-year", type=int, default=2025)
    ap.add_argument("--n-boot", type=int, default=None, help="bootstrap replicates (default: the protocol's)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--costs-only", action="store_true", help="comparison 1's cost DiD only (no outcome bootstrap)")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_short_term_coverage.jsonl")
    ap.add_argument("--summarize", action="store_true")
    a = ap.parse_args()
    if not a.summarize:
        done = set()
        if a.out.exists():
            old = pd.read_json(a.out, lines=True)
            done = set(old.loc[old["size"] == a.size, "seed"])
        todo = [s for s in _seeds(a.seeds) if s not in done]
        n = len(todo)
        with ProcessPoolExecutor(max_workers=a.workers) as pool:
            for rows in pool.map(one_seed, [a.size] * n, todo, [a.fiscal_year] * n, [a.n_boot] * n,
                                 [a.costs_only] * n):
                with a.out.open("a") as fh:
                    for r in rows:
                        fh.write(json.dumps(r) + "\n")
                if rows:
                    print(f"seed {rows[0]['seed']}: {rows[0]['seconds']} s", flush=True)
    print(summarize(a.out))


if __name__ == "__main__":
    main()
