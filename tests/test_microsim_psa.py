"""Probabilistic sensitivity analysis: distribution moments, reproducibility across n_jobs and
backends, and the decision outputs on a tiny PSA computed by hand."""

from __future__ import annotations

import importlib.util

import matplotlib

matplotlib.use("Agg")

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wellness_research.errors import ConfigurationError
from wellness_research.microsim.psa import Beta, Dirichlet, Fixed, Gamma, LogNormal, PSAResult, run_psa

N = 200_000  # draws for moment checks: SE of a mean is sd/447


# ---------------------------------------------------------------------------------------------
# Distributions: method of moments (Briggs, Claxton & Sculpher 2006, ch. 4) and sampling moments
# ---------------------------------------------------------------------------------------------


def test_beta_method_of_moments():
    b = Beta.from_mean_se(0.2, 0.04)
    # k = 0.2·0.8/0.0016 − 1 = 99; α = 19.8, β = 79.2
    assert (b.alpha, b.beta) == pytest.approx((19.8, 79.2))
    assert (b.mean, b.sd) == pytest.approx((0.2, 0.04))
    x = b.sample(np.random.default_rng(1), N)
    assert abs(x.mean() - 0.2) < 4 * 0.04 / np.sqrt(N)
    assert x.std() == pytest.approx(0.04, rel=0.01)
    assert Beta.from_counts(3, 10) == Beta(3.0, 7.0)
    with pytest.raises(ConfigurationError, match="too large"):
        Beta.from_mean_se(0.5, 0.5)
    with pytest.raises(ConfigurationError, match=r"mean must be in \(0, 1\)"):
        Beta.from_mean_se(1.2, 0.1)


def test_gamma_method_of_moments():
    g = Gamma.from_mean_se(150_000.0, 30_000.0)
    # shape = m²/s² = 25, scale = s²/m = 6,000
    assert (g.shape, g.scale) == pytest.approx((25.0, 6_000.0))
    x = g.sample(np.random.default_rng(2), N)
    assert abs(x.mean() - 150_000) < 4 * 30_000 / np.sqrt(N)
    assert x.std() == pytest.approx(30_000, rel=0.01)
    with pytest.raises(ConfigurationError, match="mean must be a positive"):
        Gamma.from_mean_se(-1.0, 1.0)


def test_lognormal_from_mean_se_and_ci():
    d = LogNormal.from_mean_se(2.0, 1.0)
    # σ² = ln(1 + 1/4), μ = ln 2 − σ²/2
    assert d.sdlog == pytest.approx(np.sqrt(np.log(1.25)))
    assert (d.mean, d.sd) == pytest.approx((2.0, 1.0))
    x = d.sample(np.random.default_rng(3), N)
    assert abs(x.mean() - 2.0) < 4 * 1.0 / np.sqrt(N)
    # HR 0.80 (95 % CI 0.64–1.00): median 0.80, 2.5 % and 97.5 % quantiles at the interval ends
    hr = LogNormal.from_ci(0.8, 0.64, 1.0)
    q = stats.lognorm(s=hr.sdlog, scale=np.exp(hr.meanlog)).ppf([0.025, 0.5, 0.975])
    # the interval is not exactly symmetric on the log scale (ln 0.8 − ln 0.64 ≠ ln 1 − ln 0.8):
    # the geometric centre sqrt(0.64) = 0.8 happens to be exact here
    assert q == pytest.approx([0.64, 0.8, 1.0], rel=1e-6)
    with pytest.raises(ConfigurationError, match="low ≤ point ≤ high"):
        LogNormal.from_ci(1.2, 0.64, 1.0)


def test_dirichlet_moments_and_rows_sum_to_one():
    # 要支援1 row of the 2016 MHLW matrix (DOMAIN.md §3) as counts per 1,000
    counts = [676, 194, 97, 22, 7, 4, 1]
    d = Dirichlet.from_counts(counts)
    x = d.sample(np.random.default_rng(4), 50_000)
    assert x.shape == (50_000, 7)
    np.testing.assert_allclose(x.sum(axis=1), 1.0)
    a = np.asarray(counts, dtype=float)
    a0 = a.sum()
    np.testing.assert_allclose(x.mean(axis=0), a / a0, atol=4 * np.sqrt(0.25 / a0 / 50_000))
    var = a * (a0 - a) / (a0**2 * (a0 + 1))
    np.testing.assert_allclose(x.var(axis=0), var, rtol=0.05)
    assert Dirichlet.from_proportions([0.5, 0.5], n=10).alpha == (5.0, 5.0)
    with pytest.raises(ConfigurationError, match="add a prior"):
        Dirichlet.from_counts([3, 0, 1])
    assert Dirichlet.from_counts([3, 0, 1], prior=1).alpha == (4.0, 1.0, 2.0)


# ---------------------------------------------------------------------------------------------
# run_psa: determinism
# ---------------------------------------------------------------------------------------------


def noisy_model(params, seed):
    """A stochastic model: uses both the drawn parameters and its own seed."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, size=100).mean()
    return {
        "none": {"cost": 1_000.0 + noise, "effect": 0.0},
        "programme": {"cost": params["c"] + noise, "effect": params["q"] + float(params["mix"][0])},
    }


DISTS = {
    "c": Gamma.from_mean_se(1_200.0, 100.0),
    "q": Beta.from_mean_se(0.3, 0.05),
    "mix": Dirichlet.from_counts([8, 2]),
    "k": 7.0,
}


def test_psa_is_identical_across_n_jobs_and_backends():
    ref = run_psa(noisy_model, DISTS, n_draws=40, seed=123, n_jobs=1)
    threaded = run_psa(noisy_model, DISTS, n_draws=40, seed=123, n_jobs=2, backend="threading")
    loky = run_psa(noisy_model, DISTS, n_draws=40, seed=123, n_jobs=2, backend="loky", batch_size=3)
    for other in (threaded, loky):
        pd.testing.assert_frame_equal(ref.outcomes, other.outcomes)
        pd.testing.assert_frame_equal(ref.parameters, other.parameters)
        np.testing.assert_array_equal(ref.seeds, other.seeds)
    # an enclosing parallel_config is honoured (n_jobs=None) and gives the same draws
    with joblib.parallel_config(backend="threading", n_jobs=2):
        cfg = run_psa(noisy_model, DISTS, n_draws=40, seed=123, n_jobs=None)
    pd.testing.assert_frame_equal(ref.outcomes, cfg.outcomes)
    # a different seed gives different draws; a prefix of draws is not shared by chance
    other = run_psa(noisy_model, DISTS, n_draws=40, seed=124)
    assert not np.allclose(other.parameters["c"], ref.parameters["c"])


def test_psa_records_parameters_and_seeds():
    res = run_psa(noisy_model, DISTS, n_draws=25, seed=9)
    assert list(res.parameters.columns) == ["c", "q", "mix[0]", "mix[1]", "k"]
    assert (res.parameters["k"] == 7.0).all()
    np.testing.assert_allclose(res.parameters["mix[0]"] + res.parameters["mix[1]"], 1.0)
    assert len(np.unique(res.seeds)) == 25
    assert res.strategies == ["none", "programme"]
    # repeating with the recorded entropy reproduces the run
    again = run_psa(noisy_model, DISTS, n_draws=25, seed=res.entropy)
    pd.testing.assert_frame_equal(res.outcomes, again.outcomes)
    # a Generator seed is accepted and reproducible through the generator's own seed
    g1 = run_psa(noisy_model, DISTS, n_draws=5, seed=np.random.default_rng(1))
    g2 = run_psa(noisy_model, DISTS, n_draws=5, seed=np.random.default_rng(1))
    pd.testing.assert_frame_equal(g1.outcomes, g2.outcomes)


def test_psa_model_outputs_are_normalised():
    scalar = run_psa(lambda p, s: p["x"] * 2, {"x": Fixed(3.0)}, n_draws=3, seed=0)
    assert scalar.outcomes["value"].tolist() == [6.0, 6.0, 6.0]
    frame = run_psa(
        lambda p, s: pd.DataFrame({"cost": [0.0, p["x"]], "effect": [0.0, 1.0]}, index=["a", "b"]),
        {"x": Fixed(3.0)},
        n_draws=2,
        seed=0,
    )
    assert frame.strategies == ["a", "b"]
    with pytest.raises(ConfigurationError, match="draw 0 returned list"):
        run_psa(lambda p, s: [1, 2], {"x": 1.0}, n_draws=2, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_draws": 0}, "n_draws must be an integer"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"distributions": {"x": "beta"}}, r"distributions\['x'\] must be a Distribution"),
    ],
)
def test_run_psa_validation(kwargs, match):
    args = {"n_draws": 2, "seed": 0, "distributions": {"x": 1.0}, **kwargs}
    with pytest.raises(ConfigurationError, match=match):
        run_psa(lambda p, s: 0.0, **args)


# ---------------------------------------------------------------------------------------------
# Decision outputs on a tiny PSA (same hand numbers as test_microsim_economics)
# ---------------------------------------------------------------------------------------------

_COSTS = [100.0, 200.0, 300.0, 400.0]
_EFFECTS = [1.0, 3.0, 2.0, 4.0]


def _hand_model(params, seed):
    i = int(params["i"])
    return {"no": {"cost": 0.0, "effect": 0.0}, "yes": {"cost": _COSTS[i], "effect": _EFFECTS[i]}}


def _hand_psa() -> PSAResult:
    # draw i gets index i: a "distribution" that returns 0, 1, 2, 3 in order
    class Index(Fixed):
        def sample(self, rng, size):
            return np.arange(size, dtype=float)

    return run_psa(_hand_model, {"i": Index(0.0)}, n_draws=4, seed=0)


def test_psa_result_nmb_ceac_evpi_by_hand():
    res = _hand_psa()
    # wtp 120: NMB yes = (20, 160, −60, 80)
    np.testing.assert_allclose(res.nmb(wtp=120.0)["yes"], [20, 160, -60, 80])
    # CEAC: yes best in 3 of 4 draws
    t = res.ceac(wtp=[120.0]).table.set_index("strategy")
    assert t.loc["yes", "probability"] == 0.75
    # EVPI = E[max] − max E = 65 − 50 = 15; population 15 × 500 × (1 + 1/1.02)
    ev = res.evpi(wtp=[120.0], population_per_year=500, horizon_years=2)
    assert ev["evpi"].iloc[0] == pytest.approx(15.0)
    assert ev["evpi_population"].iloc[0] == pytest.approx(15 * 500 * (1 + 1 / 1.02))
    # ICER on the means: cost 250, effect 2.5 → 100 per unit
    icer = res.icers().table.set_index("strategy")
    assert icer.loc["yes", "icer"] == pytest.approx(100.0)
    tidy = res.tidy().set_index("term")
    assert tidy.loc["yes:cost", "estimate"] == pytest.approx(250.0)
    assert tidy.loc["yes:cost", "n"] == 4
    assert "PSA: 4 draws" in res.summary()
    fig = res.ce_plane(wtp=120.0)
    plt.close(fig)
    with pytest.raises(ConfigurationError, match="outcome must be one of"):
        res.wide("qaly")


# ---------------------------------------------------------------------------------------------
# Dask backend through joblib, without code changes
# ---------------------------------------------------------------------------------------------


_NO_DISTRIBUTED = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask.distributed is not installed (pin dask==2026.8.0 and distributed==2026.8.0 to run it)",
)


@_NO_DISTRIBUTED
@pytest.mark.parametrize(
    "processes",
    [False, pytest.param(True, marks=pytest.mark.slow, id="worker-processes")],
)
def test_psa_on_a_local_dask_cluster_matches_sequential(processes):
    from distributed import Client, LocalCluster

    ref = run_psa(noisy_model, DISTS, n_draws=20, seed=77, n_jobs=1)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None) as cluster,
        Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        res = run_psa(noisy_model, DISTS, n_draws=20, seed=77, n_jobs=-1)
    pd.testing.assert_frame_equal(ref.outcomes, res.outcomes)


def test_generator_seed_run_is_repeatable_from_its_entropy():
    res = run_psa(noisy_model, DISTS, n_draws=6, seed=np.random.default_rng(3))
    again = run_psa(noisy_model, DISTS, n_draws=6, seed=res.entropy)
    pd.testing.assert_frame_equal(res.outcomes, again.outcomes)


# ---------------------------------------------------------------------------------------------
# A PSA of the projection: population encoded once, draws in threads, one kernel thread per draw
# ---------------------------------------------------------------------------------------------


def _persons(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    states = ["independent", "要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5"]
    return pd.DataFrame({
        "age": np.minimum(65 + rng.exponential(9.0, n).astype(int), 100),
        "sex": rng.choice(["M", "F"], n),
        "state": pd.Categorical(rng.choice(states, n, p=[0.81, 0.03, 0.03, 0.04, 0.03, 0.025, 0.025, 0.01])),
        "frailty": rng.lognormal(0.0, 0.3, n),
    }, index=np.zeros(n, dtype=int))  # duplicate index values are fine


def test_encoded_population_gives_the_dataframe_results():
    from wellness_research.microsim import load_parameters, project
    from wellness_research.microsim.engine import EncodedPopulation, encode_population

    pop = _persons(3_000)
    before = pop.copy()
    base = load_parameters()
    enc = encode_population(pop, base)
    assert isinstance(enc, EncodedPopulation) and len(enc) == 3_000 and enc.mult is None
    assert not enc.state.flags.writeable
    for kw in ({"engine": "microsim", "seed": 4, "uptake": 0.6}, {"engine": "cohort"}):
        for cycle in ("year", "month"):
            a = project(pop, base, effect=0.7, years=3, cycle=cycle, **kw).tidy()
            b = project(enc, base, effect=0.7, years=3, cycle=cycle, **kw).tidy()
            pd.testing.assert_frame_equal(a, b)
    # an individual multiplier travels with the encoding
    encm = encode_population(pop, base, covariate_hr="frailty")
    a = project(pop, base, effect=0.7, years=3, cycle="year", seed=2, covariate_hr="frailty").tidy()
    pd.testing.assert_frame_equal(a, project(encm, base, effect=0.7, years=3, cycle="year", seed=2).tidy())
    pd.testing.assert_frame_equal(
        a, project(encm, base, effect=0.7, years=3, cycle="year", seed=2, covariate_hr="frailty").tidy()
    )
    pd.testing.assert_frame_equal(pop, before)
    with pytest.raises(ConfigurationError, match="encoded with covariate_hr=None"):
        project(enc, base, years=2, cycle="year", seed=1, covariate_hr="frailty")
    narrow = base.replace({"model.max_age": 100})
    with pytest.raises(ConfigurationError, match="encoded for ages 65-105 but the parameters cover 65-100"):
        project(enc, narrow, years=2, cycle="year", seed=1)
    from wellness_research.errors import DataValidationError

    with pytest.raises(DataValidationError, match="column 'sex'"):
        encode_population(pop.assign(sex="X"), base)


def test_n_threads_and_the_table_cache_do_not_change_results():
    from wellness_research.microsim import load_parameters, project
    from wellness_research.microsim.engine import _tables, encode_population
    from wellness_research.microsim.effect import Effect

    base = load_parameters()
    enc = encode_population(_persons(20_000, seed=1), base)
    ref = project(enc, base, effect=0.8, years=4, cycle="year", seed=3, n_threads=1).tidy()
    for k in (2, 3):
        other = project(enc, base, effect=0.8, years=4, cycle="year", seed=3, n_threads=k).tidy()
        pd.testing.assert_frame_equal(ref, other)
    with pytest.raises(ConfigurationError, match="n_threads must be a whole number"):
        project(enc, base, years=2, n_threads=0)
    # tables are shared by parameter sets equal in what the tables depend on (a PSA of costs) ...
    costs = base.replace({"ltc_costs.unit_price_factor": 1.1})
    t0 = _tables(base, 4, "year", Effect(0.8))
    assert _tables(costs, 4, "year", Effect(0.8)) is t0
    # ... and rebuilt when any of it differs
    assert _tables(base, 4, "year", Effect(0.81)) is not t0
    assert _tables(base, 5, "year", Effect(0.8)) is not t0
    slower = base.replace({"transitions.decertification_per_year": [0.05] * 7})
    assert _tables(slower, 4, "year", Effect(0.8)) is not t0


def _projection_model(params, seed, *, population, base):
    """What a researcher writes: parameters of the draw, then a projection of the encoded population."""
    from wellness_research.microsim import project, projection_totals
    from wellness_research.microsim.engine import _n_threads

    p = base.replace({"ltc_costs.unit_price_factor": params["price"]})
    pr = project(population, p, effect=params["hr"], years=3, cycle="year", seed=seed)
    diff = projection_totals(pr).loc["difference"]
    return {"averted_cost": diff["averted_cost"], "years_gained": diff["years_without_care2plus"],
            "kernel_threads": float(_n_threads())}


def test_projection_psa_in_threads_matches_sequential_and_uses_one_kernel_thread_per_draw():
    from functools import partial

    from wellness_research.microsim import load_parameters
    from wellness_research.microsim.engine import _n_threads, encode_population

    base = load_parameters()
    model = partial(_projection_model, population=encode_population(_persons(5_000, seed=2), base), base=base)
    dists = {"hr": LogNormal.from_ci(0.8, 0.64, 1.0), "price": Gamma.from_mean_se(1.0, 0.05)}
    seq = run_psa(model, dists, n_draws=8, seed=5, n_jobs=1)
    par = run_psa(model, dists, n_draws=8, seed=5, n_jobs=2)  # default: threads
    assert par.wide("kernel_threads").to_numpy().max() == 1.0  # parallel draws: one kernel thread each
    assert seq.wide("kernel_threads").to_numpy().min() == float(_n_threads())  # sequential: the default
    values = ["averted_cost", "years_gained"]
    pd.testing.assert_frame_equal(
        seq.outcomes.query("outcome in @values").reset_index(drop=True),
        par.outcomes.query("outcome in @values").reset_index(drop=True),
    )
    assert seq.wide("averted_cost")[""].mean() > 0  # HR below 1 on average: certifications averted
    with pytest.raises(ConfigurationError, match="prefer must be one of"):
        run_psa(model, dists, n_draws=2, seed=0, prefer="gpu")
