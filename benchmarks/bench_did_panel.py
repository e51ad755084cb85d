"""Time building the person-month cost panel of the city-sized synthetic municipality (issue 4).

Target: within 20 s on 2 cores (generation of the municipality is not timed).

Run::

    .venv/bin/python benchmarks/bench_did_panel.py [--size city] [--seed 0]
    .venv/bin/python benchmarks/bench_did_panel.py --save city0.pkl   # generate once, keep
    .venv/bin/python benchmarks/bench_did_panel.py --load city0.pkl   # reuse (trusted local file)

``--load`` reads a pickled :class:`~wellness_research.synthetic.Municipality` (or a dict of tables)
written by ``--save`` on this machine; pickles run code when loaded, so never load one from elsewhere.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import time
from pathlib import Path

from wellness_research.did.panel import cost_panel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="city")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, help="pickle the generated municipality here")
    ap.add_argument("--load", type=Path, help="use a municipality pickled by --save instead of generating")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.load is not None:
        with args.load.open("rb") as fh:
            obj = pickle.load(fh)  # noqa: S301 - a local file written by --save
        source = f"loaded {args.load}"
    else:
        from wellness_research.synthetic import make_municipality

        obj = make_municipality(args.size, seed=args.seed)
        source = f"size={args.size} seed={args.seed}: generated"
        if args.save is not None:
            with args.save.open("wb") as fh:
                pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tables = obj.tables if hasattr(obj, "tables") else obj
    t1 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    panel = cost_panel(tables)
    t2 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    d = panel.data
    print(f"{source} in {t1 - t0:.1f} s")
    print(f"cost_panel: {t2 - t1:.2f} s wall, {cpu:.2f} s CPU (user + system), {len(d):,} rows, {d['person_id'].nunique():,} persons, "
          f"{len(tables['medical_claims']):,} medical + {len(tables['ltc_claims']):,} LTC claim rows")
    print(f"peak RSS {ru0.ru_maxrss / 1e6:.2f} GB before the panel, {ru1.ru_maxrss / 1e6:.2f} GB after "
          "(whole process)")
    print(panel.summary())


if __name__ == "__main__":
    main()
