"""Write peer-library reference outputs for the difference-in-differences tests (tests/reference/did/).

Run from the repository root with the DiD peer venv (``bash benchmarks/peers/setup_did_peers.sh``)::

    .venv-did-peers/bin/python benchmarks/peers/make_did_references.py            # parts a and b
    .venv-did-peers/bin/python benchmarks/peers/make_did_references.py a          # CS only (~1-4 min)
    # part b in two parallel processes, then combine (what produced the committed files, 2026-11-28):
    .venv-did-peers/bin/python benchmarks/peers/make_did_references.py b_first_post &
    .venv-did-peers/bin/python benchmarks/peers/make_did_references.py b_average_post &
    wait; .venv-did-peers/bin/python benchmarks/peers/make_did_references.py b_merge

Part b is slow: on a busy 2-core machine each 401-point relative-magnitudes call took 5-11 min (moderndid)
and 5 min (honestdid); honestdid's FLCI for the average effect took 9 min.

Writes
------
tests/reference/did/cs_castle_attgt.csv
    Every Callaway-Sant'Anna ATT(g, t) with its ANALYTIC standard error (influence function,
    ``bstrap=False``) on the castle-doctrine panel, for control group x weighting x est_method x
    covariates x base period, produced by csdid 0.4.3 (column ``tool``); the same grid from moderndid
    0.2.0 is used only as a cross-check (differences in cs_castle_meta.json).
tests/reference/did/cs_castle_aggte.csv
    The simple / dynamic / group / calendar aggregations of each configuration, overall and per
    event (``term`` = "overall" or the event time / group / calendar year), analytic SEs.
tests/reference/did/cs_castle_meta.json
    Tool versions, date, the exact calls, data preparation, covariate choice and the csdid-vs-moderndid
    cross-check (max abs difference of ATT and SE per configuration).
tests/reference/did/honest_castle_eventstudy.json
    The event study (beta, full Sigma, event times, num_pre/num_post) that HonestDiD is run on.
tests/reference/did/honest_castle_sensitivity.csv (+ honest_castle_meta.json)
    Rambachan-Roth robust confidence sets from moderndid 0.2.0 and honestdid 0.1.1 on that beta/Sigma.

Castle data: ``causaldata.castle`` (Cheng and Hoekstra 2013, as in Cunningham's Mixtape) has no
``effyear`` column in the Python package; the cohort is the first year with ``post == 1``
(2006: 1 state, 2007: 13, 2008: 4, 2009: 2, 2010: 1; 29 never-treated states coded 0; ``post``
never switches off). Outcome ``l_homicide``, unit ``sid``, time ``year`` (2000-2010), weight
``popwt`` (constant within state).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import platform
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "did"
TODAY = _dt.date.today().isoformat()
SCRIPT = "benchmarks/peers/make_did_references.py"

CONTROL_GROUPS = ("nevertreated", "notyettreated")
EST_METHODS = ("reg", "ipw", "dr")
BASE_PERIODS = ("varying", "universal")
#: Time-invariant covariates: each state's value in the first year (2000) of the panel.
COVARIATE_SOURCES = {"x_income0": "l_income", "x_police0": "l_police"}
COVARIATE_SETS = {"none": None, "income0": ["x_income0"], "income0_police0": ["x_income0", "x_police0"]}
AGG_TYPES = ("simple", "dynamic", "group", "calendar")


def versions() -> dict[str, str]:
    pk = ["csdid", "moderndid", "honestdid", "diff-diff", "pyfixest", "causaldata", "numpy", "pandas", "scipy",
          "torch", "cvxpy"]
    out = {p: version(p) for p in pk}
    out["python"] = platform.python_version()
    return out


def load_castle() -> pd.DataFrame:
    from causaldata import castle

    d = castle.load_pandas().data
    first = d.loc[d["post"] > 0].groupby("sid")["year"].min()
    d = d.assign(cohort=d["sid"].map(first).fillna(0).astype("int64"), year=d["year"].astype("int64"),
                 sid=d["sid"].astype("int64"))
    base = d.loc[d["year"] == d["year"].min()].set_index("sid")
    for new, src in COVARIATE_SOURCES.items():
        d[new] = d["sid"].map(base[src]).astype(float)
    cols = ["sid", "year", "cohort", "l_homicide", "popwt", *COVARIATE_SOURCES]
    return d[cols].sort_values(["sid", "year"]).reset_index(drop=True)


def configs():
    for cg in CONTROL_GROUPS:
        for wname in (None, "popwt"):
            for cov in COVARIATE_SETS:
                for em in EST_METHODS:
                    for bp in BASE_PERIODS:
                        yield {"control_group": cg, "weights": wname, "covariates": cov, "est_method": em,
                               "base_period": bp}


def xformla(cov: str) -> str | None:
    cs = COVARIATE_SETS[cov]
    return None if cs is None else "l_homicide ~ " + " + ".join(cs)


# ----------------------------------------------------------------------------------------------------
# csdid
# ----------------------------------------------------------------------------------------------------
def csdid_call(cfg: dict) -> str:
    return (f"ATTgt(yname='l_homicide', tname='year', idname='sid', gname='cohort', data=castle, "
            f"control_group='{cfg['control_group']}', xformla={xformla(cfg['covariates'])!r}, "
            f"weights_name={cfg['weights']!r}).fit(est_method='{cfg['est_method']}', "
            f"base_period='{cfg['base_period']}', bstrap=False); .aggte(typec=<type>)")


def run_csdid(d: pd.DataFrame, cfg: dict):
    from csdid.att_gt import ATTgt

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        m = ATTgt(yname="l_homicide", tname="year", idname="sid", gname="cohort", data=d.copy(),
                  control_group=cfg["control_group"], xformla=xformla(cfg["covariates"]),
                  weights_name=cfg["weights"]).fit(est_method=cfg["est_method"],
                                                   base_period=cfg["base_period"], bstrap=False)
        r = m.results
        gt = pd.DataFrame({"group": np.asarray(r["group"], dtype="int64"),
                           "time": np.asarray(r["year"], dtype="int64"),
                           "att": np.asarray(r["att"], dtype=float), "se": np.asarray(r["se"], dtype=float)})
        aggs = []
        for ty in AGG_TYPES:
            m.aggte(typec=ty)
            a = m.atte
            aggs.append(_agg_rows(ty, a["overall_att"], a["overall_se"], a.get("egt"), a.get("att_egt"),
                                  a.get("se_egt")))
    warn = sorted({str(w.message)[:200] for w in wlist})
    return gt, pd.concat(aggs, ignore_index=True), warn


def _agg_rows(ty, oatt, ose, ev, att, se) -> pd.DataFrame:
    rows = [{"aggregation": ty, "term": "overall", "estimate": float(oatt), "se": float(ose)}]
    if ty != "simple" and ev is not None:
        for e, a, s in zip(np.asarray(ev).ravel(), np.asarray(att, dtype=float).ravel(),
                           np.asarray(se, dtype=float).ravel(), strict=True):
            rows.append({"aggregation": ty, "term": str(int(e)), "estimate": float(a), "se": float(s)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------
# moderndid
# ----------------------------------------------------------------------------------------------------
def moderndid_call(cfg: dict) -> str:
    return (f"moderndid.att_gt(data=castle, yname='l_homicide', tname='year', idname='sid', gname='cohort', "
            f"xformla={_md_xformla(cfg['covariates'])!r}, weightsname={cfg['weights']!r}, "
            f"control_group='{cfg['control_group']}', est_method='{cfg['est_method']}', "
            f"base_period='{cfg['base_period']}', boot=False, cband=False); moderndid.aggte(res, type=<type>, boot=False)")


def _md_xformla(cov: str) -> str | None:
    cs = COVARIATE_SETS[cov]
    return None if cs is None else "~ " + " + ".join(cs)


def run_moderndid(d: pd.DataFrame, cfg: dict):
    import moderndid as md

    with warnings.catch_warnings(record=True) as wlist, contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        res = md.att_gt(data=d.copy(), yname="l_homicide", tname="year", idname="sid", gname="cohort",
                        xformla=_md_xformla(cfg["covariates"]), weightsname=cfg["weights"],
                        control_group=cfg["control_group"], est_method=cfg["est_method"],
                        base_period=cfg["base_period"], boot=False, cband=False)
        gt = pd.DataFrame({"group": np.asarray(res.groups, dtype="int64"),
                           "time": np.asarray(res.times, dtype="int64"),
                           "att": np.asarray(res.att_gt, dtype=float), "se": np.asarray(res.se_gt, dtype=float)})
        aggs = []
        for ty in AGG_TYPES:
            a = md.aggte(res, type=ty, boot=False)
            aggs.append(_agg_rows(ty, a.overall_att, a.overall_se, a.event_times, a.att_by_event, a.se_by_event))
    warn = sorted({str(w.message)[:200] for w in wlist})
    return gt, pd.concat(aggs, ignore_index=True), warn


def _maxdiff(a: pd.Series, b: pd.Series) -> float | None:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    if (np.isfinite(a) != np.isfinite(b)).any():
        return float("inf")
    return float(np.max(np.abs(a[both] - b[both]))) if both.any() else None


def part_a(d: pd.DataFrame) -> None:
    gt_all, agg_all, checks, failures = [], [], [], []
    t0 = time.perf_counter()
    for cfg in configs():
        key = {**cfg, "weights": cfg["weights"] or "none"}
        tool = "csdid"
        try:
            gt, agg, warn_c = run_csdid(d, cfg)
        except Exception as exc:  # record the trap, fall back to moderndid
            failures.append({**key, "tool": "csdid", "error": f"{type(exc).__name__}: {exc}"[:400]})
            gt = agg = None
            warn_c = []
        try:
            gt_m, agg_m, warn_m = run_moderndid(d, cfg)
        except Exception as exc:
            failures.append({**key, "tool": "moderndid", "error": f"{type(exc).__name__}: {exc}"[:400]})
            gt_m = agg_m = None
            warn_m = []
        if gt is None:
            if gt_m is None:
                continue
            gt, agg, tool = gt_m, agg_m, "moderndid"
        chk = {**key, "reference_tool": tool, "csdid_warnings": warn_c, "moderndid_warnings": warn_m}
        if tool == "csdid" and gt_m is not None:
            mg = gt.merge(gt_m, on=["group", "time"], suffixes=("", "_m"), how="outer")
            ma = agg.merge(agg_m, on=["aggregation", "term"], suffixes=("", "_m"), how="outer")
            chk.update({"max_abs_diff_att_gt": _maxdiff(mg["att"], mg["att_m"]),
                        "max_abs_diff_se_gt": _maxdiff(mg["se"], mg["se_m"]),
                        "max_abs_diff_agg_estimate": _maxdiff(ma["estimate"], ma["estimate_m"]),
                        "max_abs_diff_agg_se": _maxdiff(ma["se"], ma["se_m"])})
        checks.append(chk)
        gt_all.append(gt.assign(tool=tool, **{k: v for k, v in key.items()}))
        agg_all.append(agg.assign(tool=tool, **{k: v for k, v in key.items()}))
    elapsed = time.perf_counter() - t0
    keys = ["tool", "control_group", "weights", "covariates", "est_method", "base_period"]
    gt_df = pd.concat(gt_all, ignore_index=True)[[*keys, "group", "time", "att", "se"]]
    agg_df = pd.concat(agg_all, ignore_index=True)[[*keys, "aggregation", "term", "estimate", "se"]]
    header = (f"# Callaway-Sant'Anna on causaldata.castle (l_homicide; sid; year; cohort = first year with post==1, "
              f"0 = never treated); analytic SEs (bstrap=False).\n# Produced {TODAY} by {SCRIPT} with csdid "
              f"{version('csdid')} (fallback moderndid {version('moderndid')}; column tool). Calls and cross-checks: "
              f"cs_castle_meta.json. Read with pandas.read_csv(path, comment='#').\n")
    for name, df in (("cs_castle_attgt.csv", gt_df), ("cs_castle_aggte.csv", agg_df)):
        with open(OUT / name, "w") as fh:
            fh.write(header)
            df.to_csv(fh, index=False, float_format="%.12g")
    meta = {
        "produced": TODAY, "script": SCRIPT, "versions": versions(),
        "data": {"source": "causaldata 0.1.5 castle (Cheng & Hoekstra 2013)", "outcome": "l_homicide",
                 "unit": "sid", "time": "year", "weights": "popwt (time-invariant)",
                 "cohort": "first year with post == 1; 0 = never treated (29 states)",
                 "cohort_sizes": {str(k): int(v) for k, v in
                                  d.drop_duplicates("sid")["cohort"].value_counts().sort_index().items()},
                 "covariates": {k: f"{v} in year 2000 (time-invariant baseline)" for k, v in
                                COVARIATE_SOURCES.items()},
                 "covariate_sets": COVARIATE_SETS},
        "se": "analytic influence-function SE, sqrt(mean(IF^2))/sqrt(n) (R did, bstrap=FALSE); NaN for the "
              "universal-base-period reference cells",
        "calls": {"csdid": csdid_call({"control_group": "<cg>", "covariates": "income0", "weights": "<w>",
                                       "est_method": "<em>", "base_period": "<bp>"}),
                  "moderndid": moderndid_call({"control_group": "<cg>", "covariates": "income0", "weights": "<w>",
                                               "est_method": "<em>", "base_period": "<bp>"})},
        "grid": {"control_group": CONTROL_GROUPS, "weights": ["none", "popwt"],
                 "covariates": list(COVARIATE_SETS), "est_method": EST_METHODS, "base_period": BASE_PERIODS},
        "failures": failures,
        "cross_check_csdid_vs_moderndid": checks,
        "elapsed_seconds_both_tools": round(elapsed, 1),
    }
    (OUT / "cs_castle_meta.json").write_text(json.dumps(meta, indent=1, default=_json_default) + "\n")
    print(f"part a: {len(gt_df)} ATT(g,t) rows, {len(agg_df)} aggregate rows, {len(failures)} failures, "
          f"{elapsed:.1f}s")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o))


# ----------------------------------------------------------------------------------------------------
# part b: HonestDiD on a castle event study with a universal base period
# ----------------------------------------------------------------------------------------------------
ES_MIN_E, ES_MAX_E = -5, 3
M_BAR_VEC = (0.0, 0.5, 1.0, 1.5, 2.0)
#: Smoothness bounds in log points of the homicide rate per year^2 (event-study SEs are ~0.03-0.05).
M_VEC = (0.0, 0.01, 0.02, 0.03, 0.04)
#: Relative-magnitudes test-inversion grid: theta_hat +/- GRID_HALF_WIDTH with GRID_POINTS points, the SAME for
#: both tools (step 0.005 log points). Fewer than the R default of 1000 points: moderndid 0.2.0 needs ~6 min per
#: 1000-point, five-Mbar call on this (shared, 2-core) machine.
GRID_POINTS = 401
GRID_HALF_WIDTH = 1.0
GRID_KINDS = ("common",)  # add "tool_default" to also run each tool's own default grid (slow)
FAILURES: list[dict] = []  # tool errors met in part b, written into the meta file


def _to_pandas(r) -> pd.DataFrame:
    return r.to_pandas() if hasattr(r, "to_pandas") else pd.DataFrame(r)


def event_study(d: pd.DataFrame) -> dict:
    """CS dynamic aggregation (universal base period, never-treated controls, reg, unweighted)."""
    import moderndid as md
    from csdid.att_gt import ATTgt

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        res = md.att_gt(data=d.copy(), yname="l_homicide", tname="year", idname="sid", gname="cohort",
                        control_group="nevertreated", est_method="reg", base_period="universal", boot=False,
                        cband=False)
        es = md.aggte(res, type="dynamic", min_e=ES_MIN_E, max_e=ES_MAX_E, boot=False, cband=False)
        m = ATTgt(yname="l_homicide", tname="year", idname="sid", gname="cohort", data=d.copy(),
                  control_group="nevertreated").fit(est_method="reg", base_period="universal", bstrap=False)
        m.aggte(typec="dynamic", min_e=ES_MIN_E, max_e=ES_MAX_E)
        cs = m.atte
    e = np.asarray(es.event_times, dtype=int)
    keep = e != -1  # the universal reference period: estimate 0 by construction, no variance
    inf = np.asarray(es.influence_func)[:, keep]
    n = inf.shape[0]
    sigma = inf.T @ inf / (n * n)
    beta = np.asarray(es.att_by_event, dtype=float)[keep]
    cs_att = np.asarray(cs["att_egt"], dtype=float)[np.asarray(cs["egt"]) != -1]
    cs_se = np.asarray(cs["se_egt"], dtype=float)[np.asarray(cs["egt"]) != -1]
    return {
        "event_times": e[keep].tolist(), "beta": beta.tolist(), "sigma": sigma.tolist(),
        "se": np.sqrt(np.diag(sigma)).tolist(),
        "num_pre": int((e[keep] < -1).sum()), "num_post": int((e[keep] >= 0).sum()), "n_units": int(n),
        "reference_period": -1,
        "source": (f"moderndid {version('moderndid')}: res = att_gt(data=castle, yname='l_homicide', tname='year', "
                   "idname='sid', gname='cohort', control_group='nevertreated', est_method='reg', "
                   "base_period='universal', boot=False, cband=False); es = aggte(res, type='dynamic', "
                   f"min_e={ES_MIN_E}, max_e={ES_MAX_E}, boot=False, cband=False); beta = es.att_by_event "
                   "without e=-1; Sigma = IF'IF/n^2 from es.influence_func (as moderndid.honest_did does)"),
        "cross_check_csdid": {
            "call": ("csdid ATTgt(..., control_group='nevertreated').fit(est_method='reg', base_period='universal', "
                     f"bstrap=False).aggte(typec='dynamic', min_e={ES_MIN_E}, max_e={ES_MAX_E})"),
            "max_abs_diff_beta": float(np.max(np.abs(cs_att - beta))),
            "max_abs_diff_se": float(np.max(np.abs(cs_se - np.sqrt(np.diag(sigma))))),
        },
    }


def part_b(d: pd.DataFrame, lnames: tuple[str, ...] = ("first_post", "average_post")) -> None:
    """Run the sensitivity analyses for the l_vec names given; files get a suffix when not both."""
    import honestdid as hd
    from moderndid.didhonest import (
        construct_original_cs,
        create_sensitivity_results_rm,
        create_sensitivity_results_sm,
    )

    es = event_study(d)
    beta, sigma = np.asarray(es["beta"]), np.asarray(es["sigma"])
    npre, npost = es["num_pre"], es["num_post"]
    es_meta = {"produced": TODAY, "script": SCRIPT, "versions": versions(), **es}
    (OUT / "honest_castle_eventstudy.json").write_text(json.dumps(es_meta, indent=1, default=_json_default) + "\n")

    lvecs = {"first_post": np.eye(npost)[0], "average_post": np.full(npost, 1.0 / npost)}
    lvecs = {k: v for k, v in lvecs.items() if k in lnames}
    suffix = "" if len(lvecs) == 2 else "_" + "_".join(lvecs)
    rows, timings = [], []
    post_sigma = sigma[npre:, npre:]
    for lname, lvec in lvecs.items():
        theta = float(lvec @ beta[npre:])
        sd_theta = float(np.sqrt(lvec @ post_sigma @ lvec))
        orig = construct_original_cs(betahat=beta, sigma=sigma, num_pre_periods=npre, num_post_periods=npost,
                                     l_vec=lvec, alpha=0.05)
        rows.append({"tool": "moderndid", "restriction": "none", "method": "original", "l_vec": lname,
                     "M": np.nan, "lb": float(orig.lb), "ub": float(orig.ub), "grid": "none", "grid_step": np.nan,
                     "theta_hat": theta, "sd_theta": sd_theta})
        # Smoothness: FLCI (the Rambachan-Roth default for Delta^SD; an optimisation, no grid).
        for tool in ("moderndid", "honestdid"):
            t0 = time.perf_counter()
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                if tool == "moderndid":
                    r = create_sensitivity_results_sm(
                        betahat=beta, sigma=sigma, num_pre_periods=npre, num_post_periods=npost, method="FLCI",
                        m_vec=list(M_VEC), l_vec=lvec, alpha=0.05)
                else:
                    r = hd.createSensitivityResults(beta, sigma, npre, npost, method="FLCI", Mvec=list(M_VEC),
                                                    l_vec=lvec, alpha=0.05)
            dt = time.perf_counter() - t0
            timings.append({"tool": tool, "restriction": "SD", "l_vec": lname, "grid": "none (FLCI)",
                            "seconds_all_M": round(dt, 2)})
            print(f"  SD {tool} {lname}: {dt:.1f}s", flush=True)
            r = _to_pandas(r)
            mcol = "M" if "M" in r.columns else "m"
            for _, x in r.iterrows():
                rows.append({"tool": tool, "restriction": "SD", "method": "FLCI", "l_vec": lname, "M": float(x[mcol]),
                             "lb": float(x["lb"]), "ub": float(x["ub"]), "grid": "none", "grid_step": np.nan,
                             "theta_hat": theta, "sd_theta": sd_theta})
            _write_b(rows, timings, es, npre, npost, suffix)
        # Relative magnitudes, C-LF: once on a common explicit grid (same for both tools), once on each tool's
        # default grid.
        glb, gub = theta - GRID_HALF_WIDTH, theta + GRID_HALF_WIDTH
        grids = {"common": (glb, gub), "tool_default": (None, None)}
        for grid_kind in GRID_KINDS:
            lb_, ub_ = grids[grid_kind]
            step = (gub - glb) / (GRID_POINTS - 1) if grid_kind == "common" else np.nan
            for tool in ("moderndid", "honestdid"):
                t0 = time.perf_counter()
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    if tool == "moderndid":
                        r = create_sensitivity_results_rm(
                            betahat=beta, sigma=sigma, num_pre_periods=npre, num_post_periods=npost,
                            method="C-LF", m_bar_vec=list(M_BAR_VEC), l_vec=lvec, alpha=0.05,
                            grid_points=GRID_POINTS, grid_lb=lb_, grid_ub=ub_)
                    else:
                        # honestdid 0.1.1 raises "TypeError: only 0-dimensional arrays can be converted to
                        # Python scalars" (core.py _lp_conditional_test_fn) for a non-basis l_vec: run each
                        # Mbar alone and record the failures instead of losing the run.
                        parts_r = []
                        for mb in M_BAR_VEC:
                            try:
                                parts_r.append(_to_pandas(hd.createSensitivityResults_relativeMagnitudes(
                                    beta, sigma, npre, npost, method="C-LF", Mbarvec=[mb], l_vec=lvec,
                                    alpha=0.05, gridPoints=GRID_POINTS, grid_lb=lb_, grid_ub=ub_)))
                            except Exception as exc:
                                FAILURES.append({"tool": tool, "restriction": "RM", "l_vec": lname, "Mbar": mb,
                                                 "error": f"{type(exc).__name__}: {exc}"[:300]})
                        r = pd.concat(parts_r, ignore_index=True) if parts_r else pd.DataFrame(
                            columns=["lb", "ub", "Mbar"])
                dt = time.perf_counter() - t0
                timings.append({"tool": tool, "restriction": "RM", "l_vec": lname, "grid": grid_kind,
                                "seconds_all_M": round(dt, 2)})
                print(f"  RM {tool} {lname} {grid_kind}: {dt:.1f}s", flush=True)
                r = _to_pandas(r)
                mcol = "Mbar" if "Mbar" in r.columns else "m"
                for _, x in r.iterrows():
                    edge = grid_kind == "common" and (np.isclose(x["lb"], glb) or np.isclose(x["ub"], gub))
                    rows.append({"tool": tool, "restriction": "RM", "method": "C-LF", "l_vec": lname,
                                 "M": float(x[mcol]), "lb": float(x["lb"]), "ub": float(x["ub"]), "grid": grid_kind,
                                 "grid_step": step, "theta_hat": theta, "sd_theta": sd_theta,
                                 "at_grid_edge": bool(edge)})
                _write_b(rows, timings, es, npre, npost, suffix)
        print(f"part b: {lname} done", flush=True)
    _write_b(rows, timings, es, npre, npost, suffix)


def _write_b(rows, timings, es, npre, npost, suffix) -> None:
    """(Re)write the sensitivity CSV and meta with the rows so far (so a long run leaves partial output)."""
    out = pd.DataFrame(rows)
    header = (f"# Rambachan-Roth (HonestDiD) robust 95% CIs on the castle CS event study in "
              f"honest_castle_eventstudy.json.\n# Produced {TODAY} by {SCRIPT} with moderndid "
              f"{version('moderndid')} (moderndid.didhonest create_sensitivity_results_rm/_sm) and honestdid "
              f"{version('honestdid')} (createSensitivityResults_relativeMagnitudes / createSensitivityResults); "
              f"alpha=0.05; gridPoints={GRID_POINTS}; M = Mbar for RM, M for SD. Details: honest_castle_meta.json."
              f"\n")
    with open(OUT / f"honest_castle_sensitivity{suffix}.csv", "w") as fh:
        fh.write(header)
        out.to_csv(fh, index=False, float_format="%.10g")
    # cross-tool differences
    diffs = []
    for (restr, lname, grid), g in out[out["restriction"] != "none"].groupby(["restriction", "l_vec", "grid"]):
        p = g.pivot_table(index="M", columns="tool", values=["lb", "ub"])
        if {"moderndid", "honestdid"} <= set(p.columns.get_level_values(1)):
            diffs.append({"restriction": restr, "l_vec": lname, "grid": grid,
                          "max_abs_diff_lb": float((p["lb"]["moderndid"] - p["lb"]["honestdid"]).abs().max()),
                          "max_abs_diff_ub": float((p["ub"]["moderndid"] - p["ub"]["honestdid"]).abs().max())})
    meta = {
        "produced": TODAY, "script": SCRIPT, "versions": versions(),
        "event_study": "honest_castle_eventstudy.json (CS dynamic, universal base period, e in "
                       f"[{ES_MIN_E}, {ES_MAX_E}], reference e=-1 dropped)",
        "relative_magnitudes": {"method": "C-LF", "Mbar": M_BAR_VEC, "gridPoints": GRID_POINTS,
                                "common_grid": f"theta_hat +/- {GRID_HALF_WIDTH}, {GRID_POINTS} points, same for both tools; "
                                               "at_grid_edge flags a bound that reached the grid end",
                                "tool_default_grid": "each tool's own default (identified set +/- 20 sd_theta)"},
        "smoothness": {"method": "FLCI", "M": M_VEC,
                       "M_units": "log points of the homicide rate per year^2; event-study SEs are about "
                                  f"{np.round(es['se'], 3).tolist()}"},
        "l_vec": {"first_post": "basis vector for e=0", "average_post": f"1/num_post = 1/{npost} on e=0..{npost - 1}"},
        "timings_seconds": timings,
        "failures": FAILURES,
        "max_abs_diff_moderndid_vs_honestdid": diffs,
    }
    (OUT / f"honest_castle_meta{suffix}.json").write_text(json.dumps(meta, indent=1, default=_json_default) + "\n")


def merge_b() -> None:
    """Combine the per-l_vec files of two parallel runs (b_first_post, b_average_post) into one CSV + meta."""
    parts = [OUT / f"honest_castle_sensitivity_{k}.csv" for k in ("first_post", "average_post")]
    metas = [OUT / f"honest_castle_meta_{k}.json" for k in ("first_post", "average_post")]
    rows = pd.concat([pd.read_csv(p, comment="#") for p in parts], ignore_index=True)
    timings = [t for m in metas for t in json.loads(m.read_text())["timings_seconds"]]
    FAILURES.extend(f for m in metas for f in json.loads(m.read_text()).get("failures", []))
    es = json.loads((OUT / "honest_castle_eventstudy.json").read_text())
    _write_b(rows.to_dict("records"), timings, es, es["num_pre"], es["num_post"], "")
    for p in (*parts, *metas):
        p.unlink()


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    castle = load_castle()
    parts = sys.argv[1:] or ["a", "b"]
    if "a" in parts:
        part_a(castle)
    if "b" in parts:
        part_b(castle)
    for lname in ("first_post", "average_post"):  # e.g. `... b_first_post` runs one l_vec (parallel runs)
        if f"b_{lname}" in parts:
            part_b(castle, (lname,))
    if "b_merge" in parts:
        merge_b()
