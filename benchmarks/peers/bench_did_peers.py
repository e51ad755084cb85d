"""Time and measure peak memory of Callaway-Sant'Anna implementations on a large staggered panel.

Each tool runs in its own subprocess (fresh interpreter, so peak RSS is the tool's own); the child
builds ``benchmarks/_did_data.make_staggered_panel`` (balanced, no covariates; true ATT 0.10), fits,
aggregates to the simple ATT and prints one JSON line. Peak RSS is the child's
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (includes the panel itself; the RSS right after the build
is reported too so the tool's own share is visible).

Usage (from the repository root)::

    .venv-did-peers/bin/python benchmarks/peers/bench_did_peers.py                  # 150_000 x 60 = 9M rows
    .venv-did-peers/bin/python benchmarks/peers/bench_did_peers.py --n-units 2000 --n-periods 20
    .venv-did-peers/bin/python benchmarks/peers/bench_did_peers.py --ours            # add wellness_research
    .venv-did-peers/bin/python benchmarks/peers/bench_did_peers.py --tools diffdiff_reg,moderndid_reg

Peers run in .venv-did-peers; ``--ours`` runs ``wellness_research.did.cs.att_gt`` in the core .venv
(``--ours-python`` to change) when that module exists. ``--markdown PATH`` writes the results table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEER_PY = ROOT / ".venv-did-peers" / "bin" / "python"
CORE_PY = ROOT / ".venv" / "bin" / "python"

TOOLS = {
    "diffdiff_reg": "diff-diff CallawaySantAnna(control_group='never_treated', estimation_method='reg', "
                    "n_bootstrap=0).fit(...); overall_att / overall_se",
    "diffdiff_default": "diff-diff CallawaySantAnna() defaults (dr, never_treated, n_bootstrap=0).fit(...)",
    "csdid_reg": "csdid ATTgt(..., control_group='nevertreated').fit(est_method='reg', bstrap=False)"
                 ".aggte('simple')",
    "csdid_default": "csdid ATTgt(..., control_group='nevertreated').fit() defaults (dr, bstrap=True, "
                     "biters=1000).aggte('simple')",
    "moderndid_reg": "moderndid att_gt(..., control_group='nevertreated', est_method='reg', boot=False, "
                     "cband=False); aggte(type='simple', boot=False)",
    "ours_reg": "wellness_research.did.cs.att_gt(df, outcome='y', unit='unit', time='time', cohort='cohort', "
                "control_group='nevertreated', est_method='reg').aggregate('simple')",
}
DEFAULT_TOOLS = ["diffdiff_reg", "csdid_reg", "csdid_default", "moderndid_reg"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _first_attr(obj, names):
    for n in names:
        if hasattr(obj, n):
            return float(getattr(obj, n))
    return float("nan")


def _scalar(x) -> float:
    """csdid's bootstrap path returns the overall SE as a length-1 array; unwrap it (refuse anything longer)."""
    import numpy as np

    a = np.asarray(x, dtype=float).ravel()
    if a.size != 1:
        raise ValueError(f"expected one number, got shape {np.shape(x)}: {a[:5]}")
    return float(a[0])


def child(tool: str, n_units: int, n_periods: int, seed: int) -> dict:
    """Run one tool in this process and return its measurements."""
    import warnings

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _did_data import make_staggered_panel

    t0 = time.perf_counter()
    df = make_staggered_panel(n_units, n_periods, seed=seed)
    build_s = time.perf_counter() - t0
    rss_after_build = _current_rss_mb()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    if tool.startswith("diffdiff"):
        from diff_diff import CallawaySantAnna

        kw = {"control_group": "never_treated", "estimation_method": "reg", "n_bootstrap": 0} \
            if tool == "diffdiff_reg" else {}
        r = CallawaySantAnna(**kw).fit(df, outcome="y", unit="unit", time="time", first_treat="cohort")
        att, se, ver = r.overall_att, r.overall_se, version("diff-diff")
    elif tool.startswith("csdid"):
        import contextlib
        import io

        from csdid.att_gt import ATTgt

        with contextlib.redirect_stdout(io.StringIO()):
            m = ATTgt(yname="y", tname="time", idname="unit", gname="cohort", data=df,
                      control_group="nevertreated")
            m = m.fit(est_method="reg", bstrap=False) if tool == "csdid_reg" else m.fit()
            m.aggte(typec="simple")
        att, se, ver = m.atte["overall_att"], m.atte["overall_se"], version("csdid")
    elif tool == "moderndid_reg":
        import moderndid as md

        res = md.att_gt(data=df, yname="y", tname="time", idname="unit", gname="cohort",
                        control_group="nevertreated", est_method="reg", boot=False, cband=False)
        a = md.aggte(res, type="simple", boot=False)
        att, se, ver = a.overall_att, a.overall_se, version("moderndid")
    elif tool == "ours_reg":
        from wellness_research.did.cs import att_gt

        r = att_gt(df, outcome="y", unit="unit", time="time", cohort="cohort", control_group="nevertreated",
                   est_method="reg")
        a = r.aggregate("simple")
        att = _first_attr(a, ["estimate", "att", "overall_att"])
        se = _first_attr(a, ["std_error", "se", "overall_se"])
        if att != att and hasattr(a, "tidy"):  # NaN: fall back to the first tidy() row
            row = a.tidy().iloc[0]
            att, se = float(row["estimate"]), float(row["std_error"])
        ver = version("wellness_research")
    else:
        raise SystemExit(f"unknown tool {tool!r}; valid: {sorted(TOOLS)}")
    fit_s = time.perf_counter() - t0
    return {"tool": tool, "version": ver, "rows": len(df), "build_s": round(build_s, 2), "fit_s": round(fit_s, 2),
            "rss_after_build_mb": round(rss_after_build), "peak_rss_mb": round(_rss_mb()),
            "simple_att": _scalar(att), "simple_se": _scalar(se)}


def run_one(py: Path, tool: str, args) -> dict:
    cmd = [str(py), str(Path(__file__).resolve()), "--child", tool, "--n-units", str(args.n_units),
           "--n-periods", str(args.n_periods), "--seed", str(args.seed)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "error": f"timeout after {args.timeout} s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"tool": tool, "error": f"exit {p.returncode}: {tail[:300]}", "wall_s": round(wall, 1)}
    out = json.loads(lines[-1])
    out["wall_s"] = round(wall, 1)
    return out


def markdown(results: list[dict], args, cmdline: str) -> str:
    vers = {}
    for p in ("diff-diff", "csdid", "moderndid", "numpy", "pandas", "scipy"):
        try:
            vers[p] = version(p)
        except PackageNotFoundError:
            vers[p] = "n/a"
    lines = [
        "# Callaway-Sant'Anna peers on a large staggered panel",
        "",
        f"Command (from the repository root): `{cmdline}`",
        "",
        f"Data: `benchmarks/_did_data.make_staggered_panel({args.n_units}, {args.n_periods}, seed={args.seed})` — "
        f"{args.n_units * args.n_periods:,} rows, balanced, no covariates, four staggered cohorts + never-treated, "
        "true ATT 0.10 in every treated cell. Simple aggregation, never-treated controls, analytic SEs unless "
        "stated.",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} when the table was written (timings under load are not comparable). "
        "Each tool ran once, in its own subprocess; peak RSS is the child's ru_maxrss and includes the panel "
        "(RSS right after building the panel in the 'after build' column).",
        "",
        "Peers run in .venv-did-peers; ours_reg in the core .venv (--ours-python). "
        f"Python {platform.python_version()}; " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        "",
        "| tool | call | fit (s) | wall incl. start+build (s) | peak RSS (MB) | after build (MB) | simple ATT | SE |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['tool']} | {TOOLS.get(r['tool'], '')} | — | {r.get('wall_s', '—')} | — | — | "
                         f"**failed**: {r['error']} | |")
        else:
            lines.append(f"| {r['tool']} {r['version']} | {TOOLS[r['tool']]} | {r['fit_s']:.1f} | {r['wall_s']:.1f} | "
                         f"{r['peak_rss_mb']:,} | {r['rss_after_build_mb']:,} | {r['simple_att']:.6f} | "
                         f"{r['simple_se']:.6f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-units", type=int, default=150_000)
    ap.add_argument("--n-periods", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tools", default=",".join(DEFAULT_TOOLS), help=f"comma list from {sorted(TOOLS)}")
    ap.add_argument("--ours", action="store_true", help="also run wellness_research.did.cs.att_gt")
    ap.add_argument("--ours-python", default=str(CORE_PY))
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool")
    ap.add_argument("--markdown", default=None, help="write the results table to this path")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.n_units, args.n_periods, args.seed)), flush=True)
        return

    tools = [t for t in args.tools.split(",") if t]
    plan = [(PEER_PY if PEER_PY.exists() else Path(sys.executable), t) for t in tools]
    if args.ours:
        ours_py = Path(args.ours_python)
        probe = subprocess.run([str(ours_py), "-c", "import wellness_research.did.cs"], capture_output=True,
                               text=True, cwd=ROOT)
        if probe.returncode == 0:
            plan.append((ours_py, "ours_reg"))
        else:
            print("--ours: wellness_research.did.cs not importable; skipped:",
                  (probe.stderr.strip().splitlines() or [""])[-1])
    results = []
    for py, tool in plan:
        r = run_one(py, tool, args)
        results.append(r)
        print(json.dumps(r), flush=True)
    cmdline = " ".join([os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else "python",
                        os.path.relpath(Path(sys.argv[0]).resolve(), ROOT), *sys.argv[1:]])
    md = markdown(results, args, cmdline)
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md)


if __name__ == "__main__":
    main()
