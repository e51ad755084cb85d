"""Care-level projection (wellness_research.microsim): parameters, conversions, engines, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError, DataValidationError
from wellness_research.microsim import (
    Effect, annual_to_cycle_matrix, convert_probability, load_parameters, population_at,
    probability_to_rate, project, rate_to_probability,
)
from wellness_research.microsim._model import build_tables
from wellness_research.microsim.engine import _encode, run_microsim


@pytest.fixture(scope="module")
def params():
    return load_parameters()


@pytest.fixture(scope="module")
def synthetic_pop():
    from wellness_research.synthetic import make_municipality

    return population_at(make_municipality("small", seed=0).tables, "2022-04-01")


# ----------------------------------------------------------------- parameters
def test_every_parameter_has_provenance(params):
    tidy = params.tidy()
    assert set(tidy["tag"]) <= {"S", "D", "E", "M", "D/E", "E/M", "S/E"}
    assert (tidy["source"].str.len() > 5).all() and (tidy["unit"].str.len() > 0).all()


def test_out_of_range_value_names_key_value_and_range(params):
    with pytest.raises(ConfigurationError, match=r"economics.discount_rate.*0.5.*\[0.0, 0.1\]"):
        params.replace(economics__discount_rate=0.5)
    with pytest.raises(ConfigurationError, match="entry_level_mix.*sum to 1"):
        params.replace({"certification.entry_level_mix": [0.5] * 7})
    with pytest.raises(ConfigurationError, match="unknown microsim parameter"):
        params.replace(nope=1)


def test_bad_yaml_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("economics:\n  discount_rate: {value: 0.02}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="lacks"):
        load_parameters(f)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_parameters(tmp_path / "missing.yaml")


def test_rescaled_mortality_reproduces_life_table_at_reference_mix(params):
    # population hazard = sum_k pi_k mu0 HR_k must equal the life-table hazard exactly
    pop_hazard = params.death_baseline * (params.reference_mix @ params.level_hr)
    np.testing.assert_allclose(pop_hazard, params.life_table_hazard, rtol=1e-12)
    # naive multipliers on the life table overstate deaths (DOMAIN.md §2.4: by about half for the
    # certified); here the whole-population excess at 85-89 exceeds 10 %
    naive = params.life_table_hazard * (params.reference_mix @ params.level_hr)
    assert (naive[:, 20:25] / params.life_table_hazard[:, 20:25] > 1.1).all()


def test_incidence_matches_the_synthetic_calibration(params):
    from wellness_research.microsim._derive import derive_incidence

    ages, male, female = derive_incidence()
    tab = params["certification.incidence_by_age_sex"].value
    assert tab["ages"] == ages.tolist()
    np.testing.assert_allclose(tab["male"], male, rtol=1e-3)  # YAML keeps 4 significant digits
    np.testing.assert_allclose(tab["female"], female, rtol=1e-3)


# ----------------------------------------------------------------- conversions
def test_rate_probability_hand_values():
    assert rate_to_probability(0.1) == pytest.approx(1 - np.exp(-0.1), abs=1e-15)
    assert probability_to_rate(0.5, 2.0) == pytest.approx(np.log(2) / 2, abs=1e-15)
    assert convert_probability(0.2, 1.0, 1 / 12) == pytest.approx(1 - 0.8 ** (1 / 12), abs=1e-15)
    assert probability_to_rate(rate_to_probability(0.37, 3.0), 3.0) == pytest.approx(0.37, abs=1e-14)
    with pytest.raises(ConfigurationError, match="probabilities"):
        probability_to_rate(1.5)
    with pytest.raises(ConfigurationError, match="time"):
        rate_to_probability(0.1, 0)


def test_two_state_matrix_root_is_closed_form():
    P = np.array([[0.7, 0.3], [0.0, 1.0]])
    for method in ("generator", "root"):
        m = annual_to_cycle_matrix(P, method=method)
        np.testing.assert_allclose(m.matrix, [[0.7 ** (1 / 12), 1 - 0.7 ** (1 / 12)], [0, 1]], atol=1e-12)
        assert not m.regularised and m.max_abs_error < 1e-12


def test_non_embeddable_matrix_is_regularised_to_a_stochastic_matrix(params):
    m = annual_to_cycle_matrix(params.annual_matrix)
    assert m.regularised  # zeros in the annual matrix cannot come from a monthly chain exactly
    assert (m.matrix >= 0).all() and np.allclose(m.matrix.sum(axis=1), 1.0)
    assert m.max_abs_error < 1e-3  # 12 months reproduce the annual matrix within 0.1 point
    with pytest.raises(ConfigurationError, match="rows must sum to 1"):
        annual_to_cycle_matrix(np.array([[0.5, 0.4], [0, 1]]))


# ----------------------------------------------------------------- engines
def test_closed_form_two_state_survival(params):
    # no certification: independent persons only die, at mu0(a) * HR_0 per year (HR_0 = 1)
    p0 = params.replace({"certification.incidence_by_age_sex": {
        "ages": [65, 105], "male": [0.0, 0.0], "female": [0.0, 0.0]}})
    pop = pd.DataFrame({"age": [70], "sex": ["F"], "state": ["independent"]})
    pr = project(pop, p0, years=5, cycle="year", engine="cohort")
    alive = pr.occupancy[0, :, 0]
    expected = np.exp(-np.cumsum(np.r_[0.0, p0.death_baseline[1, 5:10]]))
    np.testing.assert_allclose(alive, expected, rtol=1e-12)
    prm = project(pop, p0, years=5, cycle="month", engine="cohort")
    np.testing.assert_allclose(prm.occupancy[0, ::12, 0], expected, rtol=1e-12)


def test_hr_one_gives_identical_arms_under_crn(synthetic_pop):
    pr = project(synthetic_pop.head(3000), effect=1.0, seed=5, uptake=0.5)
    assert np.array_equal(pr.occupancy_detail[0], pr.occupancy_detail[1])
    assert np.array_equal(pr.deaths_detail[0], pr.deaths_detail[1])


def test_microsim_is_deterministic_and_thread_independent(params, synthetic_pop):
    pop = _homogeneous_population(300)  # 21,000 persons: 5 chunks, shared by 1, 2 or 3 threads
    codes = _encode(pop, params, None)
    codes["variant"] = (np.arange(len(pop)) % 3 > 0).astype(np.uint8)
    tables = build_tables(params, years=3, cycle="month", effect=Effect(0.7, duration_years=1, waning=1))
    a = run_microsim(codes, tables, key=11, use_mult=False, n_threads=1)
    for k in (2, 3):
        b = run_microsim(codes, tables, key=11, use_mult=False, n_threads=k)
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
    pop = synthetic_pop.head(5000)
    p1 = project(pop, effect=0.7, seed=2, years=3)
    p2 = project(pop, effect=0.7, seed=2, years=3)
    assert np.array_equal(p1.occupancy_detail, p2.occupancy_detail)


def _z_scores(pop, seed, effect=0.7, uptake=0.6, covariate_hr=None):
    """z of microsim vs cohort state counts at year 10, per arm and state (exact binomial variance:
    the starting state is a function of sex and age, so every (sex, age) cell is homogeneous)."""
    mic = project(pop, effect=effect, seed=seed, uptake=uptake, covariate_hr=covariate_hr)
    coh = project(pop, effect=effect, engine="cohort", uptake=uptake, covariate_hr=covariate_hr)
    n = coh.occupancy_detail[..., 0, :].sum(axis=-1)  # (2, 2, n_ages)
    p = coh.occupancy_detail[..., -1, :] / np.where(n > 0, n, 1)[..., None]
    var = (n[..., None] * p * (1 - p)).sum(axis=(1, 2))
    diff = mic.occupancy[:, -1] - coh.occupancy[:, -1]
    return diff / np.sqrt(var)


def _homogeneous_population(n_per_cell: int) -> pd.DataFrame:
    from wellness_research.microsim import STATES

    rows = [(a, s, STATES[(a + (s == "F")) % 8]) for a in range(65, 100) for s in ("M", "F")]
    df = pd.DataFrame(rows * n_per_cell, columns=["age", "sex", "state"])
    return df


def test_engines_agree_within_monte_carlo_error():
    pop = _homogeneous_population(300)  # 21,000 persons
    for seed in (1, 2):  # fixed before looking; seeds 1-40 were then run once (see the slow test)
        z = _z_scores(pop, seed)
        # 18 z-scores per seed, strongly correlated between the arms (common random numbers): over
        # seeds 1-40, 2 seeds (5 %) had some |z| > 3 (seed 20: 3.76, seed 37: 3.23)
        assert np.abs(z).max() < 3, z


def test_engines_agree_with_waning_effect_and_individual_multipliers():
    # several effect levels (the effect wanes over years 2-5), progression effect, and an individual
    # certification multiplier (the kernel's expm1 path); n p (1 - p) is an upper bound of the variance
    # when persons of a cell differ by multiplier, so these z-scores are conservative
    pop = _homogeneous_population(200)
    pop["m"] = np.tile([0.5, 1.0, 2.0, 1.5], len(pop) // 4 + 1)[: len(pop)]
    eff = Effect(0.6, hr_progression=0.8, duration_years=2, waning=3)
    z = _z_scores(pop, 3, effect=eff, uptake=0.7, covariate_hr="m")
    assert np.abs(z).max() < 3, z


@pytest.mark.parametrize("frailty", [False, True])
def test_outcome_rows_are_the_cohort_probabilities(params, frailty):
    from wellness_research.microsim._model import DEAD

    eff = Effect(0.5, hr_progression=0.7, duration_years=0.5, waning=0.5)
    tab = build_tables(params, years=2, cycle="month", effect=eff, frailty=frailty)
    # level 0 = no effect, then one level per distinct ratio pair; 0 again once the effect has waned
    assert tab.level_of_cycle[0] == 1 and tab.level_of_cycle[-1] == 0
    L, A, G = tab.level_cert_h.shape[0], tab.n_ages, tab.n_groups
    assert G == (3 if frailty else 1)
    assert L == tab.level_of_cycle.max() + 1
    cum = tab.row_cum.reshape(L, 2, G, A, 8, 9)
    nxt = tab.row_next.reshape(L, 2, G, A, 8, 9)
    assert (np.diff(cum, axis=-1) >= 0).all() and (cum[..., -1] == 1.0).all()
    assert (nxt[..., 0] == DEAD).all() and (nxt[..., 1] == np.arange(8)).all()
    prob = np.diff(cum, axis=-1, prepend=0.0)
    by_state = np.zeros_like(prob)
    np.put_along_axis(by_state, nxt.astype(np.intp), prob, axis=-1)
    entry = np.diff(tab.entry_cum, axis=-1, prepend=0.0)  # (2, A, 7)
    for t in (0, 9, 23):
        lev = tab.level_of_cycle[t]
        d = tab.death_p[:, None]  # (2, 1, A, 8)
        c = -np.expm1(-tab.level_cert_h[lev])  # (2, G, A)
        want = np.zeros((2, G, A, 8, 9))
        want[..., 8] = d
        want[..., 0, 0] = (1 - d[..., 0]) * (1 - c)
        want[..., 0, 1:8] = ((1 - d[..., 0]) * c)[..., None] * entry[:, None]
        want[..., 1:, :8] = (1 - d[..., 1:])[..., None] * tab.level_trans[lev][:, None, :, 1:, :]
        np.testing.assert_allclose(by_state[lev], want, atol=1e-15)


def test_calibration_from_synthetic_baseline(params, synthetic_pop):
    pr = project(synthetic_pop, engine="cohort", years=5)
    prev = params["certification.prevalence_by_age_sex"].value
    target = pd.DataFrame({"sex": ["M"] * 6 + ["F"] * 6, "target": prev["male"] + prev["female"]})
    for year in (0, 5):
        got = pr.prevalence_by_age(year)
        got = got.assign(target=target["target"].to_numpy())
        got = got[got["persons"] >= 300]
        # tolerance: 3 percentage points absolute or 15 % relative (synthetic sampling error of the
        # bands, n 500-2,400, and the model's lack of latent frailty)
        tol = np.maximum(0.03, 0.15 * got["target"])
        bad = got[np.abs(got["prevalence"] - got["target"]) > tol]
        assert bad.empty, bad


def test_caller_data_unchanged_and_tidy_contract(synthetic_pop):
    pop = synthetic_pop.head(500).copy()
    pop.index = [0] * len(pop)  # duplicate index values are fine
    before = pop.copy(deep=True)
    pr = project(pop, effect=Effect(0.6, hr_progression=0.9, duration_years=3, waning=2), seed=0, years=4)
    pd.testing.assert_frame_equal(pop, before)
    tidy = pr.tidy()
    assert len(tidy) == 2 * 5 * 9 and {"persons", "ltc_cost_discounted", "years_without_care2plus"} <= set(tidy)
    by_year = tidy.groupby(["arm", "year"])["persons"].sum()
    assert np.allclose(by_year, 500)
    out = pr.annual_outcomes()
    assert out["ltc_cost"].shape == (2, 4)
    np.testing.assert_allclose(out["ltc_cost"].sum(axis=1), tidy.groupby("arm")["ltc_cost"].sum().to_numpy())
    start, end = (pr.annual_outcomes(timing=t)["life_years"].sum() for t in ("start", "end"))
    assert end < pr.annual_outcomes()["life_years"].sum() < start
    assert "difference" in pr.summary()


def test_bad_inputs_are_named():
    good = pd.DataFrame({"age": [70], "sex": ["M"], "state": ["independent"]})
    with pytest.raises(DataValidationError, match="lacks column"):
        project(good.drop(columns="sex"))
    with pytest.raises(DataValidationError, match=r"'sex'.*1 of 2 rows.*'X'"):
        project(pd.concat([good, good.assign(sex="X")]))
    with pytest.raises(DataValidationError, match="'state'"):
        project(good.assign(state="dead"))
    with pytest.raises(DataValidationError, match="'age'.*whole years"):
        project(good.assign(age=70.5))
    with pytest.raises(DataValidationError, match="'age'.*between 65"):
        project(good.assign(age=50))
    with pytest.raises(ConfigurationError, match="cycle"):
        project(good, cycle="week")
    with pytest.raises(ConfigurationError, match="engine"):
        project(good, engine="fast")
    with pytest.raises(ConfigurationError, match="uptake"):
        project(good, uptake=1.5)
    with pytest.raises(ConfigurationError, match="hr_certification"):
        Effect(-1.0)
    with pytest.raises(ConfigurationError, match="conf_low"):
        Effect.from_ratio(0.5, 0.6, 0.9)


@pytest.mark.slow
def test_z_scores_look_standard_normal():
    pop = _homogeneous_population(300)
    z = np.stack([_z_scores(pop, seed) for seed in range(1, 41)])  # (40 seeds, 2 arms, 9 states)
    # 720 z-scores, correlated between the arms (common random numbers) and between the states of a
    # run (multinomial), so roughly 40 x 8 independent ones: mean 0 (SE ~0.06) and SD 1 (SE ~0.04)
    assert abs(z.mean()) < 0.15 and 0.85 < z.std() < 1.15, (z.mean(), z.std())
    # each state and arm on its own: 40 z-scores, SD within 1 +/- 0.3 (SE ~0.11)
    assert (np.abs(z.std(axis=0) - 1) < 0.3).all(), z.std(axis=0)
    # the issue's |z| < 3: with ~9 effectively independent z-scores per seed, P(some |z| > 3) is
    # 2.5-5 % per seed, so ~1-2 of 40 seeds are expected; more than 6 has probability < 0.5 %
    exceed = int((np.abs(z).max(axis=(1, 2)) > 3).sum())
    assert exceed <= 6, exceed


# ----------------------------------------------------------------- age band x sex tables, frailty
def _digest(pr) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in (pr.occupancy_detail, pr.new_certifications_detail, pr.deaths_detail):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("cycle", "cov", "digest"), [
    # produced by the engine before the age band x sex / frailty change (git a02fd86, this test's
    # population and call, run from a worktree of that commit): frailty off and a broadcast matrix
    # must give the same counts, bit for bit
    ("month", None, "b3dd7498b025777a"), ("month", "m", "ae85e7abbb7c3fb0"),
    ("year", None, "d1c4530e54dc4a79"), ("year", "m", "b8898a4f488e8775"),
])
def test_broadcast_matrix_without_frailty_is_bit_identical_to_before(cycle, cov, digest):
    pop = _homogeneous_population(20)
    pop["m"] = np.tile([0.5, 1.0, 2.0], len(pop) // 3 + 1)[: len(pop)]
    eff = Effect(0.6, hr_progression=0.8, duration_years=2, waning=3)
    pr = project(pop, effect=eff, seed=11, uptake=0.7, years=4, cycle=cycle, covariate_hr=cov)
    assert _digest(pr) == digest


def _by_band(params, matrix_85f=None):
    """The default matrix written per band x sex (all equal unless the women 85+ get ``matrix_85f``)."""
    tm = params.value("transitions.annual_matrix_percent")
    fem = [tm, tm, matrix_85f if matrix_85f is not None else tm]
    return params.replace({"transitions.annual_matrix_percent": {
        "bands": ["65-74", "75-84", "85+"], "male": [tm] * 3, "female": fem}})


def test_matrix_by_band_and_sex_selects_the_row_of_each_person(params):
    same = _by_band(params)
    assert same.annual_matrix_cells.shape == (2, params.ages.size, 8, 8)
    np.testing.assert_array_equal(same.annual_matrix_cells, params.annual_matrix_cells)
    pop = _homogeneous_population(5)
    a = project(pop, effect=0.7, seed=4, years=3, parameters=same)
    b = project(pop, effect=0.7, seed=4, years=3)
    assert a.tidy().equals(b.tidy())
    # a faster progression for women 85+ only: other cells unchanged (common random numbers), theirs differ
    fast = np.triu(np.ones((7, 7))) * 10 + np.eye(7) * 30
    p2 = _by_band(params, fast.tolist())
    assert (p2.annual_matrix_cells[1, 85 - 65:] != params.annual_matrix_cells[1, 85 - 65:]).any()
    np.testing.assert_array_equal(p2.annual_matrix_cells[0], params.annual_matrix_cells[0])
    np.testing.assert_array_equal(p2.annual_matrix_cells[1, :20], params.annual_matrix_cells[1, :20])
    c = project(pop, effect=0.7, seed=4, years=3, parameters=p2)
    d = c.occupancy_detail - b.occupancy_detail  # (arm, sex, age, T + 1, 9)
    # women who start younger than 82 never reach 85 in 3 years
    assert not d[:, 0].any() and not d[:, 1, :82 - 65].any() and d[:, 1, 85 - 65:].any()
    # the pooled matrix defaults to the mean of the bands; an 'all' entry sets it
    assert p2.annual_matrix.shape == (8, 8)
    with pytest.raises(ConfigurationError, match="annual_matrix_percent.*bands, male and female"):
        params.replace({"transitions.annual_matrix_percent": {"bands": ["65+"], "male": [fast.tolist()]}})
    with pytest.raises(ConfigurationError, match=r"entry_level_mix.*shape \(2, 7\)"):
        params.replace({"certification.entry_level_mix": {"bands": ["65-79", "80+"], "male": [[1, 0, 0, 0, 0, 0, 0]],
                                                          "female": [[1, 0, 0, 0, 0, 0, 0]] * 2}})


def test_engines_agree_with_band_matrices_entry_mix_and_frailty(params):
    fast = (np.triu(np.ones((7, 7))) * 10 + np.eye(7) * 30).tolist()
    p2 = _by_band(params, fast).replace({"certification.entry_level_mix": {
        "bands": ["65-79", "80+"], "male": [[0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02]] * 2,
        "female": [[0.33, 0.12, 0.24, 0.05, 0.08, 0.15, 0.03], [0.1, 0.1, 0.2, 0.2, 0.2, 0.1, 0.1]]}})
    pop = _homogeneous_population(150)
    # frailty a function of sex and age (or unknown: drawn from the reference mix), so every
    # (sex, age) cell is homogeneous and the binomial variance of _z_scores is exact
    groups = np.array(["robust", "pre-frail", "frail", None], dtype=object)
    pop["frailty"] = groups[(pop["age"].to_numpy() + 2 * (pop["sex"] == "F").to_numpy()) % 4]
    for cycle in ("month", "year"):
        mic = project(pop, p2, effect=Effect(0.6, hr_progression=0.8, duration_years=2, waning=3), seed=5,
                      uptake=0.6, cycle=cycle, frailty=True)
        coh = project(pop, p2, effect=Effect(0.6, hr_progression=0.8, duration_years=2, waning=3),
                      engine="cohort", uptake=0.6, cycle=cycle, frailty=True)
        n = coh.occupancy_detail[..., 0, :].sum(axis=-1)
        p = coh.occupancy_detail[..., -1, :] / np.where(n > 0, n, 1)[..., None]
        var = (n[..., None] * p * (1 - p)).sum(axis=(1, 2))
        z = (mic.occupancy[:, -1] - coh.occupancy[:, -1]) / np.sqrt(var)
        # seed fixed before looking (the engines' agreement test pattern above)
        assert np.abs(z).max() < 3, (cycle, z)


def test_frailty_rescaling_keeps_the_incidence_at_the_reference_mix(params):
    # sum_g pi_g(a, s) lambda_g(a, s) = lambda(a, s): the multipliers average to 1 over the reference mix
    m = params.frailty_cert_multiplier  # (2, n_ages, 3)
    np.testing.assert_allclose((params.frailty_reference_mix * m).sum(axis=-1), 1.0, rtol=1e-12)
    # ratios between groups are the hazard ratios of DOMAIN.md §9 ([E] midpoints 1.75 and 3.5)
    np.testing.assert_allclose(m[..., 1] / m[..., 0], 1.75)
    np.testing.assert_allclose(m[..., 2] / m[..., 0], 3.5)
    assert params.frailty_cutoffs == (4, 8)  # Satake et al. 2016, DOMAIN.md §4.2
    # first-cycle certifications of a population at the reference mix: the frailty-free incidence
    tab0 = build_tables(params, years=1, cycle="year", effect=Effect())
    tab1 = build_tables(params, years=1, cycle="year", effect=Effect(), frailty=True)
    mean_h = (tab1.level_cert_h[0] * np.moveaxis(params.frailty_reference_mix, 2, 1)).sum(axis=1)
    np.testing.assert_allclose(mean_h, tab0.level_cert_h[0, :, 0], rtol=1e-12)


def test_neutral_frailty_gives_the_frailty_free_projection(params):
    # hazard ratios 1 and no moves between groups: the frailty stream is drawn but changes nothing
    neutral = params.replace({"frailty.certification_hazard_ratio": [1.0, 1.0, 1.0],
                              "frailty.annual_transition_matrix": np.eye(3).tolist()})
    pop = _homogeneous_population(10)
    a = project(pop, neutral, effect=0.7, seed=8, years=3, frailty=True)
    b = project(pop, neutral, effect=0.7, seed=8, years=3)
    assert a.tidy().equals(b.tidy())
    # hazard ratio 1 on the programme: identical arms with frailty on too (common random numbers)
    pr = project(pop, effect=1.0, seed=8, years=3, frailty=True)
    np.testing.assert_array_equal(pr.occupancy_detail[0], pr.occupancy_detail[1])


def test_frailty_raises_incidence_of_the_frail_and_bad_inputs_are_named(params):
    pop = pd.DataFrame({"age": [75] * 3000, "sex": ["F"] * 3000, "state": ["independent"] * 3000})
    first = {}
    for g in ("robust", "frail"):
        pr = project(pop.assign(frailty=g), effect=None, years=1, cycle="year", engine="cohort", frailty=True)
        first[g] = float(pr.new_certifications_detail[0].sum())
    assert first["frail"] / first["robust"] == pytest.approx(3.5, rel=0.1)  # moves within the year blur it
    with pytest.raises(DataValidationError, match=r"column 'frailty'.*'very frail'"):
        project(pop.assign(frailty="very frail"), frailty=True, years=1)
    from wellness_research.microsim.engine import encode_population

    enc = encode_population(pop)
    with pytest.raises(ConfigurationError, match="encoded without frailty"):
        project(enc, frailty=True, years=1)
    with pytest.raises(ConfigurationError, match="frailty must be True or False"):
        project(pop, frailty="yes", years=1)
    enc_f = encode_population(pop.assign(frailty="frail"), frailty=True)
    assert project(enc_f, frailty=True, years=2, seed=1).tidy().equals(
        project(pop.assign(frailty="frail"), frailty=True, years=2, seed=1).tidy())


def test_frailty_section_is_all_or_nothing(tmp_path):
    import yaml
    from importlib import resources

    doc = yaml.safe_load(resources.files("wellness_research.microsim").joinpath("defaults.yaml").read_text("utf-8"))
    doc["frailty"].pop("reference_mix")
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="frailty section needs all"):
        load_parameters(f)
    doc.pop("frailty")
    f.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    p = load_parameters(f)
    assert not p.has_frailty
    with pytest.raises(ConfigurationError, match="frailty=True needs the parameters' frailty section"):
        project(pd.DataFrame({"age": [70], "sex": ["M"], "state": ["independent"]}), p, frailty=True, years=1)


def test_population_at_frailty_from_latest_checklist():
    items = [f"q{j:02d}" for j in range(1, 26)]

    def kcl(pid, day, total, missing=0):
        row = {"person_id": pid, "survey_date": pd.Timestamp(day)}
        for j, q in enumerate(items):
            row[q] = pd.NA if j >= 25 - missing else int(j < total)
        return row

    res = pd.DataFrame({
        "person_id": list("ABCDEF"), "birth_month": pd.to_datetime(["1945-01-01"] * 6), "sex": ["F"] * 6,
        "move_in_date": pd.NaT, "move_out_date": pd.NaT, "death_date": pd.NaT})
    k = pd.DataFrame([
        kcl("A", "2021-01-01", 9), kcl("A", "2021-06-01", 3),  # latest: 3 -> robust
        kcl("B", "2020-01-01", 0, missing=20), kcl("B", "2021-06-01", 4),  # pre-frail from 4 (Satake 2016)
        kcl("C", "2021-06-01", 7), kcl("C", "2022-06-01", 0),  # the later survey is after the date
        kcl("D", "2021-06-01", 8),  # frail from 8
        kcl("E", "2021-06-01", 2, missing=3),  # 2 answered + 3 missing could reach 5: undetermined
        # F: no checklist
    ]).astype({q: "Int64" for q in items})
    tables = {"residents": res, "ltc_certifications": pd.DataFrame(
        columns=["person_id", "decision_date", "level", "valid_from", "valid_to"]), "kihon_checklist": k}
    before = k.copy()
    pop = population_at(tables, "2022-04-01", frailty=True)
    assert pop.set_index("person_id")["frailty"].to_dict() == {
        "A": "robust", "B": "pre-frail", "C": "pre-frail", "D": "frail", "E": "unknown", "F": "unknown"}
    assert pop.attrs["frailty_counts"] == {"robust": 1, "pre-frail": 2, "frail": 1, "unknown: no checklist": 1,
                                           "unknown: unanswered items decide the group": 1}
    pd.testing.assert_frame_equal(k, before)
    # 2 answered + 1 missing stays robust whatever the missing answer
    k2 = pd.DataFrame([*k.to_dict("records"), kcl("E", "2021-07-01", 2, missing=1)]).astype({q: "Int64" for q in items})
    pop2 = population_at({**tables, "kihon_checklist": k2}, "2022-04-01", frailty=True)
    assert pop2.set_index("person_id").loc["E", "frailty"] == "robust"
    assert "frailty" not in population_at(tables, "2022-04-01").columns
    with pytest.raises(DataValidationError, match="kihon_checklist"):
        population_at({k_: v for k_, v in tables.items() if k_ != "kihon_checklist"}, "2022-04-01", frailty=True)
    project(pop, frailty=True, years=1, engine="cohort")
