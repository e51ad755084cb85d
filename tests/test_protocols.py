"""Protocol files: the SOFT parameter file validates, broken variants fail clearly, prose and YAML agree."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
import yaml

from wellness_research.errors import ConfigurationError
from wellness_research.protocols import (
    Protocol,
    load_protocol,
    protocol_dir,
    protocol_errors,
    prose_mismatches,
    prose_values,
    validate_protocol,
)

ROOT = Path(__file__).resolve().parents[1]
YAML_FILE = ROOT / "protocols" / "soft_joint_research.yaml"
MD_FILE = ROOT / "protocols" / "soft_joint_research.md"
SCHEMA_FILE = ROOT / "protocols" / "schema" / "protocol.schema.yaml"

#: Parameters a reviewer must find stated in the prose (table row or inline marker).
KEY_PARAMETERS = [
    "calendar.fiscal_year_first",
    "calendar.fiscal_year_last",
    "calendar.enrolment_start",
    "population.min_age",
    "exposure.window_months",
    "exposure.min_sessions",
    "index.time_zero",
    "matching.ratio",
    "matching.caliper",
    "matching.exact",
    "outcomes.follow_up_months",
    "outcomes.event_codes.certification",
    "outcomes.event_codes.death",
    "analyses.did_matched.reference_period",
    "analyses.staggered.cluster",
    "analyses.honest_did.m_bar",
    "analyses.microsim.horizon_years",
    "analyses.microsim.discount_rate",
    "analyses.microsim.psa_draws",
    "analyses.decision.probability_threshold",
    "sensitivity.caliper_variants",
    "sensitivity.exclude_early_months",
    "reporting.min_cell",
]


@pytest.fixture(scope="module")
def soft() -> Protocol:
    return load_protocol("soft")


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(YAML_FILE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "soft_joint_research.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --- (a) the shipped file validates ---------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_soft_protocol_validates(raw: dict) -> None:
    assert protocol_errors(raw) == []
    validate_protocol(raw)


@pytest.mark.parametrize("name", ["soft", "soft_joint_research", str(YAML_FILE), YAML_FILE])
def test_load_by_key_stem_or_path(name: str | Path) -> None:
    p = load_protocol(name)
    assert (p.name, p.protocol) == ("soft_joint_research", "soft")
    assert p.path.resolve() == YAML_FILE.resolve()
    assert protocol_dir().resolve() == (ROOT / "protocols").resolve()


def test_protocol_is_read_only_and_copies_are_independent(soft: Protocol) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        soft.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        soft["exposure"]["min_sessions"] = 1
    d = soft.to_dict()
    d["exposure"]["min_sessions"] = 99
    d["matching"]["exact"].append("x")
    assert soft.get("exposure.min_sessions") == 4
    assert soft.get("matching.exact") == ["index_month", "female", "district", "age_band"]
    assert pickle.loads(pickle.dumps(soft)).get("seeds.psa") == soft.get("seeds.psa")


def test_get_table_summary_html(soft: Protocol) -> None:
    assert soft.get("exposure.dose_groups[1].name") == "medium"
    assert soft.get("outcomes.event_codes") == {"censored": 0, "certification": 1, "death": 2}
    with pytest.raises(ConfigurationError, match=r"key 'exposure.min_sesions' not found \('min_sesions' missing after 'exposure'"):
        soft.get("exposure.min_sesions")
    with pytest.raises(ConfigurationError, match=r"no item \[7\] in 'exposure.dose_groups'"):
        soft.get("exposure.dose_groups[7].name")
    with pytest.raises(ConfigurationError, match="has no section 'exposures'"):
        soft["exposures"]
    table = soft.table()
    assert table.loc[table.key == "matching.caliper", "value"].item() == 0.2
    assert "exposure.dose_groups[2].max_sessions" in set(table.key)
    assert "exposure.min_sessions" in soft.summary() and len(soft.sha256) == 64
    assert "<table>" in soft._repr_html_()


def test_parameters_are_accepted_by_the_library(soft: Protocol) -> None:
    """Option values in the YAML are values the library's Literal aliases accept."""
    from wellness_research.did.cs import BootWeights, ControlGroup, EstMethod
    from wellness_research.did.honest import HonestMethod, Target
    from wellness_research.matching._types import Distance, Method, Order
    from wellness_research.microsim.engine import Cycle, EngineName
    from wellness_research.microsim.projection import Timing

    pairs = [
        ("matching.method", Method), ("matching.distance", Distance), ("matching.order", Order),
        ("analyses.staggered.control_group", ControlGroup), ("analyses.staggered.est_method", EstMethod),
        ("analyses.staggered.boot_weights", BootWeights), ("analyses.honest_did.method", HonestMethod),
        ("analyses.honest_did.target", Target), ("analyses.microsim.cycle", Cycle),
        ("analyses.microsim.engine", EngineName), ("analyses.microsim.timing", Timing),
    ]
    for key, alias in pairs:
        assert soft.get(key) in get_args(alias), key
    schema = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    # every enum the schema offers for these keys is one the library accepts
    props = schema["properties"]
    assert set(props["matching"]["properties"]["method"]["enum"]) <= set(get_args(Method))
    assert set(props["analyses"]["properties"]["staggered"]["properties"]["est_method"]["enum"]) <= set(get_args(EstMethod))
    assert set(props["analyses"]["properties"]["microsim"]["properties"]["timing"]["enum"]) <= set(get_args(Timing))


# --- (b) invalid variants fail with clear messages -----------------------------------------------


def _set(d: dict, key: str, value: object) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", key)
    node = d
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    elif last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


_DELETE = object()

INVALID = [
    # (key, bad value, expected message) -- schema rules
    ("exposure.min_sessions", 0, r"key 'exposure.min_sessions' = 0 breaks rule 'minimum'"),
    ("exposure.min_sessions", "4", r"key 'exposure.min_sessions' = '4' breaks rule 'type': '4' is not of type 'integer'"),
    ("matching.caliper", -0.2, r"key 'matching.caliper' = -0.2 breaks rule 'oneOf': -0.2 matches none of"),
    ("matching.method", "nearest_neighbour", r"key 'matching.method' = 'nearest_neighbour' breaks rule 'enum'"),
    ("matching.calipre", 0.2, r"key 'matching.calipre' is not allowed \(rule 'additionalProperties'; allowed keys: \[.*'caliper'"),
    ("seeds.psa", _DELETE, r"key 'seeds.psa' is missing \(rule 'required'\)"),
    ("calendar.enrolment_start", "2021-13", r"key 'calendar.enrolment_start' = '2021-13' breaks rule 'pattern'"),
    ("outcomes.primary.levels", ["要介護6"], r"key 'outcomes.primary.levels\[0\]' = '要介護6' breaks rule 'enum'"),
    ("reporting.min_cell", 5, r"key 'reporting.min_cell' = 5 breaks rule 'minimum'"),
    ("analyses.decision.probability_threshold", 0.3, r"key 'analyses.decision.probability_threshold' = 0.3 breaks rule 'minimum'"),
    ("analyses.decision.include_staff", False, r"key 'analyses.decision.include_staff' = False breaks rule 'const'"),
    ("outcomes.costs.window", [-12], r"key 'outcomes.costs.window' = \[-12\] breaks rule 'minItems'"),
    # cross-field rules
    ("exposure.dose_groups[0].min_sessions", 3, r"key 'exposure.dose_groups\[0\].min_sessions' = 3 breaks rule 'dose groups start at min_sessions'"),
    ("exposure.dose_groups[1].min_sessions", 8, r"breaks rule 'dose groups contiguous': must be the previous group's max_sessions \+ 1 = 7"),
    ("exposure.dose_groups[2].max_sessions", 20, r"breaks rule 'last dose group open'"),
    ("matching.caliper", 0.1, r"key 'sensitivity.caliper_variants' = \[0.05, 0.1, 0.5\] breaks rule 'variants differ from the primary caliper'"),
    ("matching.exact", ["female", "district"], r"breaks rule 'risk-set matching within the calendar month'"),
    ("matching.exact", ["index_month", "sex"], r"key 'matching.exact\[1\]' = 'sex' breaks rule 'exact variables are known'"),
    ("matching.age_band_edges", [60, 70, 80], r"breaks rule 'age bands start at min_age': must be increasing and start at population.min_age = 65"),
    ("calendar.enrolment_start", "2019-10", r"key 'calendar.enrolment_start' = '2019-10' breaks rule 'baseline inside the data'"),
    ("calendar.fiscal_year_first", 2029, r"breaks rule 'fiscal years ordered'"),
    ("outcomes.event_codes.death", 1, r"key 'outcomes.event_codes.death' = 1 breaks rule 'event codes distinct'"),
    ("analyses.cumulative_incidence.horizon_months", 48, r"breaks rule 'horizon within follow-up'"),
    ("analyses.did_matched.window", [0, 35], r"key 'analyses.did_matched.window' = \[0, 35\] breaks rule 'window has pre and post periods'"),
    ("analyses.honest_did.m_bar", [1.0, 0.5], r"breaks rule 'M-bar grid increasing'"),
    ("sensitivity.negative_controls[0].window", [-24, 0], r"breaks rule 'pre-index window before index'"),
    ("sensitivity.exclude_early_months", 3, r"breaks rule 'exclusion longer than the landmark'"),
    ("status", "registered", r"key 'registered' = None breaks rule 'registered plans carry their date'"),
    ("findings[1].primary", True, r"key 'findings' = \['risk_difference_3y', 'hazard_ratio_certification'\] breaks rule 'exactly one primary finding'"),
    ("seeds.psa", 20251, r"breaks rule 'seeds distinct'"),
    ("covariates.propensity", ["age", "female", "district", "kcl_motor"], r"breaks rule 'missing indicators are covariates'"),
]


@pytest.mark.parametrize(("key", "value", "message"), INVALID, ids=[f"{k}={v!r}"[:60] for k, v, _ in INVALID])
def test_invalid_variant_fails_with_key_value_and_rule(tmp_path: Path, raw: dict, key: str, value: object, message: str) -> None:
    bad = copy.deepcopy(raw)
    _set(bad, key, value)
    path = _write(tmp_path, bad)
    with pytest.raises(ConfigurationError, match=message) as info:
        load_protocol(path)
    assert str(path) in str(info.value)


def test_all_problems_are_reported_at_once(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["exposure"]["min_sessions"] = 0
    bad["matching"]["ratio"] = 0
    del bad["reporting"]
    errors = protocol_errors(bad)
    assert len(errors) == 3
    with pytest.raises(ConfigurationError, match=r"3 problem\(s\)"):
        validate_protocol(bad)


def test_unknown_name_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown protocol 'sofft'.*valid: \[.*'soft', 'soft_joint_research'.*\]"):
        load_protocol("sofft")
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_protocol(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not a readable YAML file"):
        load_protocol(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="must be a mapping of sections; got list"):
        load_protocol(listed)


# --- (c) prose and YAML agree --------------------------------------------------------------------


def test_prose_and_yaml_agree(soft: Protocol) -> None:
    assert prose_mismatches(soft) == []
    soft.check_prose()


def test_prose_states_every_key_parameter() -> None:
    stated = {key for key, _, _ in prose_values(MD_FILE.read_text(encoding="utf-8"))}
    assert sorted(set(KEY_PARAMETERS) - stated) == []


def test_table_and_inline_values_are_both_parsed() -> None:
    values = prose_values(MD_FILE.read_text(encoding="utf-8"))
    table = {k for k, _, where in values if where.startswith("table")}
    inline = {k for k, _, where in values if not where.startswith("table")}
    assert {"matching.caliper", "exposure.min_sessions", "reporting.min_cell"} <= table & inline
    assert len(table) >= 40


def test_specific_sentences_state_the_values(soft: Protocol) -> None:
    """Belt and braces: the sentences a reviewer reads first, read with plain regexes."""
    text = re.sub(r"<!--.*?-->", "", MD_FILE.read_text(encoding="utf-8"))
    text = text.replace("**", "")
    m = re.search(r"attended at least (\d+) sessions \(live or recorded\)\s+within the first (\d+) months", text)
    assert m and (int(m[1]), int(m[2])) == (soft.get("exposure.min_sessions"), soft.get("exposure.window_months"))
    m = re.search(r"with a caliper of ([0-9.]+) standard deviations", text)
    assert m and float(m[1]) == soft.get("matching.caliper")
    m = re.search(r"counts below (\d+)\s+masked", text)
    assert m and int(m[1]) == soft.get("reporting.min_cell")
    m = re.search(r"positive across the PSA draws is at least (\d+(?:\.\d+)?)", text)
    assert m and float(m[1]) == soft.get("analyses.decision.probability_threshold")
    m = re.search(r"Caliper variants:\*?\*?\s*([0-9.]+), ([0-9.]+) and ([0-9.]+) SD", text)
    assert m and [float(x) for x in m.groups()] == soft.get("sensitivity.caliper_variants")
    m = re.search(r"M̄ ∈ \{([0-9., ]+)\}", text)
    assert m and [float(x) for x in m[1].split(",")] == soft.get("analyses.honest_did.m_bar")
    m = re.search(r"Dose groups by sessions in the window: low (\d+)–(\d+), medium (\d+)–(\d+), high (\d+)", text)
    groups = soft.get("exposure.dose_groups")
    assert m and [int(x) for x in m.groups()] == [
        groups[0]["min_sessions"], groups[0]["max_sessions"], groups[1]["min_sessions"], groups[1]["max_sessions"],
        groups[2]["min_sessions"]]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("| `matching.caliper` | 0.2 |", "| `matching.caliper` | 0.25 |", r"table line \d+: matching.caliper is 0.25 in the prose but 0.2"),
        ("at least **4**<!-- exposure.min_sessions -->", "at least **5**<!-- exposure.min_sessions -->",
         r"line \d+: exposure.min_sessions is 5 in the prose but 4"),
        ("| `seeds.psa` | 20255 |", "| `seeds.pas` | 20255 |", r"key 'seeds.pas' is not a parameter"),
        ("<!-- protocol-parameters:begin -->", "", r"prose has no key-parameter table"),
        ("| `matching.exact` | [index_month, female, district, age_band] |", "| `matching.exact` | [index_month, female, district] |",
         r"matching.exact is \[index_month, female, district\] in the prose"),
    ],
)
def test_prose_drift_is_caught(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = MD_FILE.read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "soft_joint_research.md").write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "soft_joint_research.yaml").write_bytes(YAML_FILE.read_bytes())
    with pytest.raises(ConfigurationError, match=message):
        load_protocol(tmp_path / "soft_joint_research.yaml")
    assert load_protocol(tmp_path / "soft_joint_research.yaml", check_prose=False).name == "soft_joint_research"
