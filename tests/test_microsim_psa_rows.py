"""Dirichlet draws of every sex x age-band row of the transition matrix in a PSA (psa.DirichletRows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError
from wellness_research.microsim import DirichletRows, band_matrix_value, load_parameters, project, run_psa

BANDS = ["65-79", "80+"]


def _counts(seed: int = 0) -> np.ndarray:
    """Observed level moves (2 sex, 2 bands, 7 levels now, 7 levels a year later): mostly staying, some
    moves, no upward-from-top or far downward moves (zeros)."""
    rng = np.random.default_rng(seed)
    base = np.array([[60, 20, 10, 3, 1, 1, 0], [10, 60, 15, 6, 2, 1, 0], [1, 3, 70, 18, 5, 2, 1],
                     [0, 1, 8, 70, 14, 5, 2], [0, 0, 2, 8, 70, 14, 6], [0, 0, 1, 2, 8, 73, 16],
                     [0, 0, 0, 1, 2, 7, 90]], dtype=float)
    scale = rng.integers(2, 6, size=(2, 2, 1, 1))  # 2-5 times the base counts per sex x band
    return base[None, None] * scale


def test_draws_have_the_counts_proportions_as_mean_and_rows_sum_to_one():
    counts = _counts()
    d = DirichletRows.from_counts(counts)
    n = 20_000
    x = d.sample(np.random.default_rng(20261128), n)
    assert x.shape == (n, 2, 2, 7, 7)
    np.testing.assert_allclose(x.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    zero = counts == 0
    assert (x[:, zero] == 0).all()  # no count and no prior: a structural zero
    # Dirichlet moments (Briggs et al. 2006, §4.3): mean alpha_j / a0, variance p_j (1 - p_j) / (a0 + 1)
    a0 = counts.sum(axis=-1, keepdims=True)
    p = counts / a0
    np.testing.assert_array_equal(d.mean, p)
    se = np.sqrt(p * (1 - p) / (a0 + 1) / n)
    z = (x.mean(axis=0) - p)[~zero] / se[~zero]
    assert np.abs(z).max() < 4.5, np.abs(z).max()  # 4.5: max of ~170 standard normals stays below it
    var_ratio = x.var(axis=0)[~zero] / (p * (1 - p) / (a0 + 1))[~zero]
    assert np.all(np.abs(var_ratio - 1) < 0.1)  # sampling error of a variance with n = 20,000: ~1-3 %


def test_one_row_agrees_with_numpys_dirichlet():
    """The normalised-gamma construction against numpy.random.Generator.dirichlet (numpy 2.4), by moments."""
    alpha = np.array([12.0, 5.0, 2.0, 1.0])
    n = 40_000
    ours = DirichletRows(alpha=alpha[None]).sample(np.random.default_rng(1), n)[:, 0]
    ref = np.random.default_rng(2).dirichlet(alpha, size=n)
    se = np.sqrt(ref.var(axis=0) / n + ours.var(axis=0) / n)
    assert np.all(np.abs(ours.mean(axis=0) - ref.mean(axis=0)) / se < 4.5)
    np.testing.assert_allclose(ours.var(axis=0), ref.var(axis=0), rtol=0.06)


def test_from_proportions_and_prior_and_bad_rows():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    d = DirichletRows.from_proportions(p, n=[100, 50])
    np.testing.assert_allclose(d.alpha, [[50, 30, 20], [5, 5, 40]])
    d = DirichletRows.from_counts([[3, 0, 1]], prior=0.5, structural_zeros=[[False, True, False]])
    np.testing.assert_allclose(d.alpha, [[3.5, 0.0, 1.5]])
    with pytest.raises(ConfigurationError, match=r"no positive alpha, e.g. row \(1,\)"):
        DirichletRows.from_counts([[1, 2], [0, 0]])
    with pytest.raises(ConfigurationError, match="must sum to 1"):
        DirichletRows.from_proportions([[50, 50]], n=10)
    with pytest.raises(ConfigurationError, match="rows must have shape"):
        band_matrix_value(np.ones((2, 3, 7, 7)) / 7, BANDS)


def test_psa_draws_a_band_matrix_per_draw_and_projects_it():
    base = load_parameters()
    counts = _counts(1)
    dec = np.asarray(base.value("transitions.decertification_per_year"))
    pop = pd.DataFrame({"age": [70, 85, 90], "sex": ["M", "F", "F"], "state": ["要支援2", "要介護1", "要介護3"]})
    seen = []

    def model(params, seed):
        rows = params["matrix"]
        seen.append(rows)
        p = base.replace({"transitions.annual_matrix_percent": band_matrix_value(rows, BANDS)})
        # the 70-year-old man's cell (band 0) and the 85-year-old woman's (band 1) carry the drawn rows,
        # scaled by the survivors who stay certified (1 - decertification)
        np.testing.assert_allclose(p.annual_matrix_cells[0, 70 - p.min_age, 1:, 1:],
                                   rows[0, 0] * (1 - dec)[:, None], rtol=1e-12)
        np.testing.assert_allclose(p.annual_matrix_cells[1, 85 - p.min_age, 1:, 1:], rows[1, 1] * (1 - dec)[:, None],
                                   rtol=1e-12)
        pr = project(pop, p, years=2, cycle="year", engine="cohort")
        return {"care2plus": float(pr.occupancy[0, -1, 4:8].sum())}

    res = run_psa(model, {"matrix": DirichletRows.from_counts(counts, prior=0.0)}, n_draws=6, seed=3)
    assert len(seen) == 6 and all(np.allclose(r.sum(axis=-1), 1.0) for r in seen)
    assert res.parameters.shape == (6, 2 * 2 * 7 * 7)
    assert res.parameters.columns[0] == "matrix[0,0,0,0]" and res.parameters.columns[-1] == "matrix[1,1,6,6]"
    np.testing.assert_array_equal(res.parameters["matrix[1,0,2,3]"].to_numpy(), [r[1, 0, 2, 3] for r in seen])
    v = res.wide("care2plus")[""]
    assert v.nunique() == 6  # each draw's matrix changes the projection
