"""Wall time and peak memory of ``make_municipality`` for each size.

Each size runs in its own child process (so that peak RSS is that size's alone), pinned to
``--cores`` CPUs with BLAS/OpenMP threads limited to the same number. Peak RSS comes from
``resource.getrusage``; with ``--tracemalloc`` the peak of Python-tracked allocations (numpy
included) is reported too, at the cost of a slower run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_synthetic.py                      # tiny, small, city on 2 cores
    .venv/bin/python benchmarks/bench_synthetic.py --sizes city --out benchmarks/results

Writes ``bench_synthetic.json`` and ``bench_synthetic.md`` into ``--out`` (default
``benchmarks/results``). Target for ``city``: within 60 s and 4 GB peak on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, os, resource, sys, time
cores = int(sys.argv[2])
if hasattr(os, "sched_setaffinity"):
    avail = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(avail[:cores]))
trace = sys.argv[4] == "1"
if trace:
    import tracemalloc
    tracemalloc.start()
from wellness_research.synthetic import make_municipality
size = sys.argv[1]
size = int(size) if size.isdigit() else size
t0 = time.perf_counter()
m = make_municipality(size, seed=int(sys.argv[3]))
wall = time.perf_counter() - t0
out = {
    "size": size,
    "seed": int(sys.argv[3]),
    "wall_seconds": round(wall, 2),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "rows": {name: int(len(df)) for name, df in m.tables.items()},
    "tables_mb": round(sum(int(df.memory_usage(deep=False).sum()) for df in m.tables.values()) / 2**20, 1),
}
if trace:
    out["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
print("RESULT " + json.dumps(out))
"""


def run_size(size: str, *, cores: int, seed: int, trace: bool) -> dict:
    """Run one size in a child process and return its measurements."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(cores)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, size, str(cores), str(seed), "1" if trace else "0"],
        env=env, capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark of size {size!r} failed:\n{proc.stderr}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def to_markdown(results: list[dict], meta: dict) -> str:
    lines = [
        "# make_municipality benchmark",
        "",
        f"Python {meta['python']}, {meta['machine']}, {meta['cores']} core(s) pinned; seed {meta['seed']}.",
        "",
        "| size | wall (s) | peak RSS (MB) | tables (MB) | medical_claims rows | residents |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']} | {r['wall_seconds']} | {r['peak_rss_mb']} | {r['tables_mb']} | "
            f"{r['rows']['medical_claims']:,} | {r['rows']['residents']:,} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small", "city"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cores": args.cores,
            "seed": args.seed}
    results = []
    for size in args.sizes:
        r = run_size(size, cores=args.cores, seed=args.seed, trace=args.tracemalloc)
        print(f"{size}: {r['wall_seconds']} s, peak RSS {r['peak_rss_mb']} MB, tables {r['tables_mb']} MB")
        results.append(r)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_synthetic.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (args.out / "bench_synthetic.md").write_text(to_markdown(results, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
