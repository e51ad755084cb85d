"""Wall time and peak memory of our Callaway-Sant'Anna ``att_gt`` (+ ``aggregate("simple")``).

The issue-4 bar: balanced panel of 150,000 units x 60 periods (9,000,000 rows, four cohorts), no
covariates, analytic SEs, not-yet-treated and never-treated comparisons: at least 2x faster than
diff-diff 3.13 (3.6 s, 1.8 GB measured in ANCHORS.md), so under ~1.8 s, at no more than 1.8 GB peak;
with five covariates and doubly robust estimation within 5x the no-covariate time.

Each case runs in its own child process, so its peak RSS (``resource.getrusage``) is its alone;
the RSS after building the panel (before ``att_gt``) is reported too, so that the estimator's own
share is visible; CPU seconds of the process are reported beside wall time because on a shared,
loaded machine wall time mostly measures waiting. The timed section is ``att_gt(...)`` followed
by ``.aggregate("simple")``; the panel comes from ``benchmarks/_did_data.py`` (``make_staggered_panel``), outside the timing.
Peers are timed in the same run by ``benchmarks/peers/`` (another script).

Run from the repository root::

    .venv/bin/python benchmarks/bench_did_cs.py                       # the 9M panel, all cases
    .venv/bin/python benchmarks/bench_did_cs.py --units 20000 --repeat 1   # quick smoke run

Writes ``bench_did_cs.json`` and ``bench_did_cs.md`` into ``--out`` (default
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "benchmarks"))  # the benchmark-only data generator
from _did_data import make_staggered_panel, TRUE_ATT
from wellness_research.did.cs import att_gt
units, periods, k = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
control_group, est_method, repeat = sys.argv[5], sys.argv[6], int(sys.argv[7])
df = make_staggered_panel(units, periods, n_covariates=k, seed=0)
rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
times, cpu = [], []
for _ in range(repeat):
    t0, c0 = time.perf_counter(), time.process_time()
    res = att_gt(df, outcome="y", unit="unit", time="time", cohort="cohort",
                 control_group=control_group, est_method=est_method,
                 covariates=[f"x{j + 1}" for j in range(k)] or None)
    agg = res.aggregate("simple")
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    del res
print(json.dumps({"seconds": times, "median_s": sorted(times)[len(times) // 2],
                  "cpu_seconds": cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_data_mb": rss_data, "att_simple": agg.estimate,
                  "se_simple": agg.std_error, "truth": TRUE_ATT}))
"""

CASES = [
    ("notyettreated", "reg", 0),
    ("nevertreated", "reg", 0),
    ("notyettreated", "dr", 5),
    ("nevertreated", "dr", 5),
]


def run_case(units: int, periods: int, k: int, control_group: str, est_method: str,
             repeat: int) -> dict:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(units), str(periods), str(k), control_group,
         est_method, str(repeat)],
        capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=150_000)
    ap.add_argument("--periods", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions per case (median)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    command = " ".join([Path(sys.executable).name, *sys.argv])
    print(f"command: {command}")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (timings on a busy machine are not comparable)")
    rows = []
    for cg, em, k in CASES:
        r = run_case(args.units, args.periods, k, cg, em, args.repeat)
        r.update(control_group=cg, est_method=em, n_covariates=k)
        rows.append(r)
        print(f"{cg:14s} {em:3s} k={k}: median {r['median_s']:.2f} s "
              f"(runs {', '.join(f'{s:.2f}' for s in r['seconds'])}; CPU "
              f"{', '.join(f'{s:.2f}' for s in r['cpu_seconds'])}), peak RSS "
              f"{r['peak_rss_mb']:.0f} MB (data alone {r['rss_after_data_mb']:.0f} MB), "
              f"ATT {r['att_simple']:.7f} (SE {r['se_simple']:.7f}; truth {r['truth']})",
              flush=True)
    base = {r["control_group"]: r["median_s"] for r in rows if r["n_covariates"] == 0}
    for r in rows:
        if r["n_covariates"]:
            print(f"{r['control_group']}: DR with {r['n_covariates']} covariates / no covariates = "
                  f"{r['median_s'] / base[r['control_group']]:.1f}x (bar: 5x)")
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "units": args.units, "periods": args.periods,
            "load_average": os.getloadavg(), "python": platform.python_version(), "cases": rows}
    (args.out / "bench_did_cs.json").write_text(json.dumps(meta, indent=2))
    lines = ["| control group | est_method | covariates | median s | peak RSS MB | ATT (simple) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['control_group']} | {r['est_method']} | {r['n_covariates']} | "
              f"{r['median_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['att_simple']:.7f} |"
              for r in rows]
    (args.out / "bench_did_cs.md").write_text(
        f"`{command}` (load average {os.getloadavg()[0]:.1f})\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
