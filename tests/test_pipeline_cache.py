"""The batch cache: a result one notebook computes and the next reuses, never for other data, protocol or code."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError
from wellness_research.pipeline import StaleCacheError, load_or_compute
from wellness_research.pipeline import cache as cache_mod
from wellness_research.pipeline.cache import CACHE_DIR, cache_key, load_cached, save_cached

PROTO = SimpleNamespace(name="short_term", sha256="a" * 64)


def _store(path, fingerprint="f1"):
    path.mkdir(parents=True, exist_ok=True)
    (path / "store.json").write_text(json.dumps({"store_fingerprints": {"residents": fingerprint}}))
    return path


class _Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_without_a_store_the_result_is_computed_and_nothing_is_saved(tmp_path):
    compute = _Counter({"x": 1})
    value, how = load_or_compute("short_term_risk_model", compute, store_dir=None, protocol=PROTO)
    assert value == {"x": 1} and compute.calls == 1 and "no analysis store" in how
    assert not list(tmp_path.rglob("*.pkl"))


def test_a_cached_result_is_saved_in_the_store_and_loaded_by_the_next_notebook(tmp_path):
    store = _store(tmp_path / "store")
    first = _Counter(pd.DataFrame({"risk": np.linspace(0, 1, 5)}))
    value, how = load_or_compute("short_term_risk_model", first, store_dir=store, protocol=PROTO, refresh=True)
    assert first.calls == 1 and how.startswith("computed and cached")
    assert (store / CACHE_DIR / "short_term_risk_model.pkl").is_file()
    again = _Counter(None)
    loaded, how = load_or_compute("short_term_risk_model", again, store_dir=store, protocol=PROTO)
    assert again.calls == 0 and how.startswith("loaded from the batch cache")
    pd.testing.assert_frame_equal(loaded, value, check_exact=True)
    # the notebook that owns the result always recomputes it
    owner = _Counter("refitted")
    value, _ = load_or_compute("short_term_risk_model", owner, store_dir=store, protocol=PROTO, refresh=True)
    assert value == "refitted"
    assert owner.calls == 1


@pytest.mark.parametrize("change", ["data", "protocol", "code"])
def test_a_stale_cache_is_refused_and_recomputed(tmp_path, monkeypatch, change):
    store = _store(tmp_path / "store")
    save_cached("short_term_risk_model", "old", store_dir=store, protocol=PROTO)
    protocol = PROTO
    if change == "data":  # the store rewritten with other data
        _store(store, fingerprint="f2")
        field = "store_json_sha256"
    elif change == "protocol":  # another version of the protocol
        protocol = SimpleNamespace(name="short_term", sha256="b" * 64)
        field = "protocol_sha256"
    else:  # the package's code changed since the file was written
        monkeypatch.setattr(cache_mod, "_code_sha256", lambda: "0" * 64)
        field = "code_sha256"
    with pytest.raises(StaleCacheError, match=field) as err:
        load_cached("short_term_risk_model", store_dir=store, protocol=protocol)
    assert err.value.fields == (field,)
    value, how = load_or_compute("short_term_risk_model", _Counter("new"), store_dir=store, protocol=protocol)
    assert value == "new" and field in how and str(tmp_path) not in how  # no machine path in notebook output
    assert load_cached("short_term_risk_model", store_dir=store, protocol=protocol) == "new"  # overwritten


def test_the_key_names_store_protocol_code_and_library_versions(tmp_path):
    key = cache_key(_store(tmp_path / "store"), PROTO)
    assert {"store_json_sha256", "protocol", "protocol_sha256", "package_version", "code_sha256",
            "scikit-learn_version", "pandas_version", "numpy_version"} <= set(key)
    assert key["protocol_sha256"] == PROTO.sha256


def test_cache_needs_an_analysis_store_a_protocol_and_a_plain_name(tmp_path):
    with pytest.raises(ConfigurationError, match="not an analysis store"):
        save_cached("short_term_risk_model", 1, store_dir=tmp_path, protocol=PROTO)
    with pytest.raises(ConfigurationError, match="loaded protocol"):
        cache_key(_store(tmp_path / "store"), "short_term")
    with pytest.raises(ConfigurationError, match="name="):
        save_cached("../outside", 1, store_dir=_store(tmp_path / "store"), protocol=PROTO)
    assert load_cached("absent", store_dir=_store(tmp_path / "store"), protocol=PROTO) is None


def test_the_cached_risk_model_gives_the_same_scores_and_matching_as_a_fresh_fit(tmp_path):
    from wellness_research.analysis import short_term as st
    from wellness_research.pipeline import load_analysis_data, prepare_data, write_store
    from wellness_research.protocols import load_protocol

    data, _ = prepare_data(synthetic_size="tiny", seed=0)
    store = tmp_path / "store"
    write_store(data, store)
    data = load_analysis_data(store_dir=store)
    proto = load_protocol("short_term")
    fitted, _ = load_or_compute("short_term_risk_model", lambda: st.short_term_risk_model(proto, data.tables),
                                store_dir=store, protocol=proto, refresh=True)
    loaded, how = load_or_compute("short_term_risk_model", lambda: pytest.fail("refitted"), store_dir=store,
                                  protocol=proto)
    assert how.startswith("loaded") and loaded is not fitted
    frame = fitted.test_frame.data
    np.testing.assert_array_equal(loaded.model.predict_risk(frame).to_numpy(),
                                  fitted.model.predict_risk(frame).to_numpy())
    assert [f.to_dict() for f in loaded.findings] == [f.to_dict() for f in fitted.findings]
    cohort = st.short_term_cohort(proto, data.tables, fiscal_year=2025, comparison="never_reached")
    a = st.short_term_matching(proto, cohort, risk_model=fitted).matched
    b = st.short_term_matching(proto, cohort, risk_model=loaded).matched
    np.testing.assert_array_equal(np.asarray(a.weights), np.asarray(b.weights))
    np.testing.assert_array_equal(np.asarray(a.subclass), np.asarray(b.subclass))
