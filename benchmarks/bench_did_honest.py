"""Wall time of our Rambachan–Roth sensitivity (``wellness_research.did.honest.honest_did``).

The issue-4 bar: five M̄ values of the relative-magnitudes C-LF confidence set on the
castle-doctrine event study within 2 s in total (moderndid 0.2.0 takes 114 s and honestdid 0.1.1 130 s, ANCHORS.md
"Measured side by side"). Also timed: five M values of the smoothness FLCI. Both for θ = first
post-period effect and the average post-period effect.

Input: the castle event study in ``tests/reference/did/honest_castle_eventstudy.json`` (β̂, Σ from
a Callaway–Sant'Anna dynamic aggregation with a universal base period; 4 pre, 4 post periods),
written by ``benchmarks/peers/make_did_references.py``. Each case: one untimed warm-up, then the
median of ``--repeat`` runs. When ``tests/reference/did/honest_castle_sensitivity*.csv`` exist,
the endpoints are also compared with moderndid's and honestdid's on the same common grid, in grid
steps.

Run from the repository root::

    .venv/bin/python benchmarks/bench_did_honest.py
    .venv/bin/python benchmarks/bench_did_honest.py --repeat 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from wellness_research.did.honest import honest_did

ROOT = Path(__file__).resolve().parents[1]
EVENT_STUDY = ROOT / "tests" / "reference" / "did" / "honest_castle_eventstudy.json"
PEERS = sorted((ROOT / "tests" / "reference" / "did").glob("honest_castle_sensitivity*.csv"))
M_BAR = (0.0, 0.5, 1.0, 1.5, 2.0)
M_SD = (0.0, 0.01, 0.02, 0.03, 0.04)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).relative_to(ROOT).as_posix()
                                if sys.executable.startswith(str(ROOT)) else sys.executable]
                               + sys.argv))
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    es = json.loads(EVENT_STUDY.read_text())
    beta, sigma = np.array(es["beta"]), np.array(es["sigma"])
    npre, npost = es["num_pre"], es["num_post"]
    print(f"castle event study: {npre} pre, {npost} post periods")

    results = {}
    for target in ("first", "average"):
        cases = {
            "RM C-LF (5 Mbar, 1000-point grid)": dict(method="relative_magnitude", m_values=M_BAR),
            "SD FLCI (5 M)": dict(method="smoothness", m_values=M_SD),
        }
        for name, kw in cases.items():
            honest_did(beta, sigma, num_pre=npre, num_post=npost, target=target, **kw)  # warm-up
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = honest_did(beta, sigma, num_pre=npre, num_post=npost, target=target, **kw)
                times.append(time.perf_counter() - t0)
            results[(target, name)] = res
            print(f"  {target:8s} {name:36s} median {statistics.median(times):6.3f} s "
                  f"(min {min(times):.3f}, {args.repeat} runs)")

    _monthly()
    if PEERS:
        _compare_with_peers(beta, sigma, npre, npost)
    else:
        print("(no peer endpoints yet: tests/reference/did/honest_castle_sensitivity*.csv missing)")


def _monthly() -> None:
    """A synthetic monthly event study, 12 pre and 24 post periods: beyond the vertex enumeration
    (C(48, 24) candidate bases), so the linear-programming path runs; one run per M̄."""
    npre, npost = 12, 24
    rng = np.random.default_rng(1)
    q = rng.standard_normal((npre + npost, npre + npost))
    sigma = (q @ q.T / (npre + npost) + np.eye(npre + npost)) * 1e-3
    beta = np.concatenate([rng.normal(0, 0.02, npre), 0.1 + rng.normal(0, 0.02, npost)])
    print(f"synthetic monthly event study: {npre} pre, {npost} post periods (LP path)")
    for target in ("first", "average"):
        for m in (0.0, 1.0, 2.0):
            t0 = time.perf_counter()
            res = honest_did(beta, sigma, num_pre=npre, num_post=npost, target=target,
                             m_values=[m])
            print(f"  {target:8s} RM C-LF Mbar={m:g}: {time.perf_counter() - t0:6.2f} s  "
                  f"[{res.conf_low[0]:.4f}, {res.conf_high[0]:.4f}]")


def _compare_with_peers(beta, sigma, npre, npost) -> None:
    import pandas as pd

    peers = pd.concat([pd.read_csv(p, comment="#") for p in PEERS], ignore_index=True)
    print("agreement with peers (|difference| in grid steps of the common grid):")
    for lname, target in (("first_post", "first"), ("average_post", "average")):
        rm = peers[(peers["restriction"] == "RM") & (peers["l_vec"] == lname)
                   & (peers["grid"] == "common")]
        if len(rm):
            theta = float(rm["theta_hat"].iloc[0])
            step = float(rm["grid_step"].iloc[0])
            half = step * 200  # the reference grid: theta_hat ± half, 401 points
            ours = honest_did(beta, sigma, num_pre=npre, num_post=npost, target=target,
                              m_values=sorted(rm["M"].unique()), grid_lb=theta - half,
                              grid_ub=theta + half, grid_points=401)
            for tool, g in rm.groupby("tool"):
                g = g.sort_values("M")
                dl = np.abs(ours.conf_low - g["lb"].to_numpy()) / step
                du = np.abs(ours.conf_high - g["ub"].to_numpy()) / step
                print(f"  RM C-LF {target:8s} vs {tool:10s} lb steps {np.round(dl, 2).tolist()}"
                      f"  ub steps {np.round(du, 2).tolist()}")
        sd = peers[(peers["restriction"] == "SD") & (peers["l_vec"] == lname)]
        if len(sd):
            ours = honest_did(beta, sigma, num_pre=npre, num_post=npost, target=target,
                              method="smoothness", m_values=sorted(sd["M"].unique()))
            for tool, g in sd.groupby("tool"):
                g = g.sort_values("M")
                dl = np.abs(ours.conf_low - g["lb"].to_numpy())
                du = np.abs(ours.conf_high - g["ub"].to_numpy())
                print(f"  SD FLCI {target:8s} vs {tool:10s} max |diff| lb {dl.max():.2e}, "
                      f"ub {du.max():.2e}")


if __name__ == "__main__":
    main()
