"""Agreement with an established implementation on data without ties (issue #3).

DoWhy 0.14 (pinned in the core environment) matches each treated unit to its single nearest control
on the probability-scale propensity score, with replacement and without a caliper. Given the same
score on data without ties, our nearest-neighbour ATT must be exactly DoWhy's. The other peers
(causalml 0.18, pymatchit-causal 0.6.1) need a separate environment: their matches on the same data
are stored under tests/reference/matching/ (see the end of this file); their timings are in
``benchmarks/peers/bench_peers.py``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import NoCaliperWarning
from wellness_research.matching import match


def _no_tie_data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_t, n_c = 60, 400
    x = np.r_[rng.normal(0.4, 1, n_t), rng.normal(0.0, 1, n_c)]
    score = 1 / (1 + np.exp(-(x - 1.5)))  # continuous: no two units share a score
    t = np.r_[np.ones(n_t, int), np.zeros(n_c, int)]
    y = 2.0 * t + x + rng.normal(size=n_t + n_c)
    return pd.DataFrame({"treat": t, "x": x, "y": y, "score": score})


def _dowhy_att(d: pd.DataFrame) -> float:
    from dowhy import CausalModel

    data = d.rename(columns={"score": "propensity_score"})  # DoWhy reuses a column of this name
    with warnings.catch_warnings():
        # DoWhy 0.14 emits FutureWarning/UserWarning noise from pandas and its graph builder.
        warnings.simplefilter("ignore")
        model = CausalModel(data=data, treatment="treat", outcome="y", common_causes=["x"])
        ident = model.identify_effect(proceed_when_unidentifiable=True)
        est = model.estimate_effect(
            ident, method_name="backdoor.propensity_score_matching", target_units="att"
        )
    return float(est.value)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_neighbour_att_equals_dowhy_on_data_without_ties(seed):
    d = _no_tie_data(seed)
    assert d["score"].nunique() == len(d)
    with pytest.warns(NoCaliperWarning):
        m = match(
            d, treatment="treat", covariates=["x"], distance="given", score="score",
            caliper=None, replace=True,
        )
    t = m.treated
    ours = d["y"][t].mean() - np.average(d["y"][~t], weights=m.weights[~t])
    assert ours == pytest.approx(_dowhy_att(d), rel=1e-12)


# ---------------------------------------------------------------- causalml and pymatchit-causal
# Their matches on the same three data sets were produced in the peer environment by
# benchmarks/peers/make_matching_references.py (causalml 0.18.0, pymatchit-causal 0.6.1; versions
# and command in tests/reference/matching/nn_no_ties.json) and are compared here, so the core
# environment does not need either tool.

_REFERENCE = Path(__file__).parent / "reference" / "matching"


@pytest.fixture(scope="module")
def peer_reference() -> tuple[pd.DataFrame, dict]:
    table = pd.read_csv(_REFERENCE / "nn_no_ties.csv", float_precision="round_trip")
    meta = json.loads((_REFERENCE / "nn_no_ties.json").read_text())
    return table, meta


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_neighbour_matches_equal_causalml_and_pymatchit(peer_reference, seed):
    table, meta = peer_reference
    assert meta["tools"]["causalml"] == "0.18.0" and meta["tools"]["pymatchit-causal"] == "0.6.1"
    ref = table[table["seed"] == seed].reset_index(drop=True)
    d = _no_tie_data(seed)
    # the stored data are the data the DoWhy test above uses (17 significant digits round-trip)
    np.testing.assert_array_equal(ref[["treat", "x", "y", "score"]].to_numpy(), d.to_numpy())
    with pytest.warns(NoCaliperWarning):
        m = match(
            d, treatment="treat", covariates=["x"], distance="given", score="score",
            caliper=None, replace=True,
        )
    ours = m.pairs.set_index("treated")["control"].sort_index()
    assert ours.index.is_unique  # no ties: exactly one control per treated unit
    treated = ref.loc[ref["treat"] == 1]
    for tool in ("causalml", "pymatchit"):
        theirs = treated.set_index("row")[f"{tool}_control"].astype(np.int64).sort_index()
        pd.testing.assert_series_equal(ours, theirs, check_names=False)
    t = m.treated
    att = d["y"][t].mean() - np.average(d["y"][~t], weights=m.weights[~t])
    assert att == pytest.approx(meta["att"][str(seed)]["causalml"], rel=0, abs=1e-10)
    assert att == pytest.approx(meta["att"][str(seed)]["pymatchit-causal"], rel=0, abs=1e-10)
