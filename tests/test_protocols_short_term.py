"""Short-term service protocol file: per-protocol schema, cross-field rules, prose and YAML agree (issue #7)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from wellness_research.errors import ConfigurationError
from wellness_research.protocols import (
    Protocol,
    _schema_path,
    load_protocol,
    protocol_dir,
    protocol_errors,
    prose_mismatches,
    validate_protocol,
)

ROOT = Path(__file__).resolve().parents[1]
YAML_FILE = ROOT / "protocols" / "short_term_service.yaml"
MD_FILE = ROOT / "protocols" / "short_term_service.md"
SCHEMA_FILE = ROOT / "protocols" / "schema" / "short_term.schema.yaml"
SOFT_YAML = ROOT / "protocols" / "soft_joint_research.yaml"
GENERIC_SCHEMA = ROOT / "protocols" / "schema" / "protocol.schema.yaml"

#: Parameters a reviewer must find stated in the prose (table row or inline marker).
KEY_PARAMETERS = [
    "calendar.fiscal_year_first",
    "risk_model.method",
    "risk_model.calibration",
    "risk_model.train_at",
    "risk_model.test_at",
    "risk_model.decision_threshold_range",
    "population.participants",
    "comparisons[0].name",
    "comparisons[0].ratio",
    "comparisons[1].name",
    "matching.replace",
    "matching.caliper",
    "outcomes.follow_up_months",
    "outcomes.short_horizon_months",
    "analyses.microsim.horizon_years",
    "analyses.microsim.psa_draws",
    "analyses.decision.probability_threshold",
    "episode_cost.sessions_per_episode.value",
    "episode_cost.session_fee.value",
    "sensitivity.caliper_variants",
    "reporting.min_cell",
]


@pytest.fixture(scope="module")
def short() -> Protocol:
    return load_protocol("short_term")


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(YAML_FILE.read_text(encoding="utf-8"))


# --- per-protocol schema selection ----------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_schema_is_chosen_by_the_protocol_key(raw: dict) -> None:
    folder = protocol_dir()
    assert _schema_path(folder, raw).name == "short_term.schema.yaml"
    assert _schema_path(folder, yaml.safe_load(SOFT_YAML.read_text(encoding="utf-8"))).name == "protocol.schema.yaml"
    # no own schema, no protocol key, or a key that is not a file name: the default schema
    for data in ({"protocol": "no_such_protocol"}, {}, {"protocol": "../soft"}, ["not", "a", "mapping"]):
        assert _schema_path(folder, data).name == "protocol.schema.yaml"


def test_short_term_protocol_validates(raw: dict) -> None:
    assert protocol_errors(raw) == []
    validate_protocol(raw)


def test_the_soft_schema_would_reject_it(raw: dict) -> None:
    """The choice matters: against SOFT's schema the short-term file is invalid (missing SOFT sections)."""
    generic = yaml.safe_load(GENERIC_SCHEMA.read_text(encoding="utf-8"))
    errors = protocol_errors(raw, schema=generic)
    assert "key 'exposure' is missing (rule 'required')" in errors
    assert any("'cascade' is not allowed" in e for e in errors)


def test_soft_still_validates_with_its_schema_and_rules() -> None:
    soft = yaml.safe_load(SOFT_YAML.read_text(encoding="utf-8"))
    assert protocol_errors(soft) == []
    soft["matching"]["caliper"] = 0.1  # a SOFT cross-field rule still applies
    assert protocol_errors(soft) == [
        "key 'sensitivity.caliper_variants' = [0.05, 0.1, 0.5] breaks rule 'variants differ from the primary "
        "caliper': must not contain matching.caliper = 0.1"]


@pytest.mark.parametrize("name", ["short_term", "short_term_service", str(YAML_FILE), YAML_FILE])
def test_load_by_key_stem_or_path(name: str | Path) -> None:
    p = load_protocol(name)
    assert (p.name, p.protocol) == ("short_term_service", "short_term")
    assert p.path.resolve() == YAML_FILE.resolve()


def test_values_the_analysis_relies_on(short: Protocol) -> None:
    assert short.get("matching.replace") is False  # 1:k without replacement (too-narrow CIs with it)
    comps = {c["name"]: c for c in short.get("comparisons")}
    assert comps["assessed_not_participating"]["role"] == "primary"
    assert comps["never_reached"]["role"] == "secondary"
    names = [f["name"] for f in short.get("findings")]
    assert [f["name"] for f in short.get("findings") if f["primary"]] == ["risk_difference_3y"]
    for base in ("risk_difference_3y", "hazard_ratio_certification", "did_cost_month"):
        assert base in names and f"{base}_never_reached" in names
    for name, par in short.get("episode_cost").items():
        assert par["range"][0] <= par["value"] <= par["range"][1], name
        assert par["tag"].startswith("["), name


# --- broken variants ------------------------------------------------------------------------------


def _set(d: dict, key: str, value: object) -> dict:
    d = copy.deepcopy(d)
    node = d
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("risk_model.test_at", "2021-04-01",
         "key 'risk_model.test_at' = '2021-04-01' breaks rule 'temporal validation on later years'"),
        ("comparisons.1.role", "primary",
         "key 'comparisons' = ['assessed_not_participating', 'never_reached'] breaks rule 'exactly one primary "
         "comparison'"),
        ("comparisons.1.landmark", "sampled_delay",
         "key 'comparisons[1].landmark' = 'sampled_delay' breaks rule 'landmark fits the comparison'"),
        ("matching.caliper", 0.1,
         "key 'sensitivity.caliper_variants' = [0.1, 0.5] breaks rule 'variants differ from the primary caliper'"),
        ("matching.exact", ["age_band"],
         "key 'matching.exact[0]' = 'age_band' breaks rule 'exact variables are covariates'"),
        ("outcomes.short_horizon_months", 36,
         "key 'outcomes.short_horizon_months' = 36 breaks rule 'short horizon within follow-up'"),
        ("episode_cost.session_fee.value", 9000,
         "key 'episode_cost.session_fee.range' = [3000, 8000] breaks rule 'range contains the value'"),
        ("cascade.graduation", ["other_service", "independent"], None),
        ("matching.replace", True, "key 'matching.replace' = True breaks rule 'const'"),
        ("risk_model.method", "forest", "key 'risk_model.method' = 'forest' breaks rule 'enum'"),
        ("comparisons.0.method", "full", "key 'comparisons[0].method' = 'full' breaks rule 'enum'"),
        ("sensitivity.comparison_secondary", "assessed_not_participating",
         "breaks rule 'secondary comparison is listed'"),
    ],
)
def test_invalid_variant_fails_with_key_value_and_rule(raw: dict, key: str, value: object,
                                                       message: str | None) -> None:
    bad = _set(raw, key, value)
    errors = protocol_errors(bad)
    if message is None:  # a valid change: other_service may count as graduation if it is a destination
        assert errors == []
        return
    assert any(message in e for e in errors), errors


def test_misspelt_key_and_every_problem_reported(tmp_path: Path, raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["matching"]["calipr"] = 0.2
    bad["seeds"]["psa"] = bad["seeds"]["matching"]
    bad["risk_model"]["test_at"] = "2020-04-01"
    errors = protocol_errors(bad)
    # the schema error comes first; cross-field rules run only once the schema passes
    assert errors == ["key 'matching.calipr' is not allowed (rule 'additionalProperties'; allowed keys: "
                      "['balance_smd_max', 'balance_variance_ratio', 'caliper', 'constant_in_arm', 'distance', "
                      "'exact', 'method', 'order', 'replace', 'sparse_levels'])"]
    del bad["matching"]["calipr"]
    errors = protocol_errors(bad)
    assert len(errors) == 2
    assert any("temporal validation" in e for e in errors) and any("seeds distinct" in e for e in errors)
    path = tmp_path / "short_term_service.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"2 problem\(s\) in the protocol parameters"):
        load_protocol(path, check_prose=False)


# --- prose and YAML agree -------------------------------------------------------------------------


def test_prose_and_yaml_agree(short: Protocol) -> None:
    assert prose_mismatches(short) == []


def test_prose_states_every_key_parameter(short: Protocol) -> None:
    from wellness_research.protocols import prose_values

    stated = {k for k, _, _ in prose_values(MD_FILE.read_text(encoding="utf-8"))}
    assert set(KEY_PARAMETERS) <= stated, sorted(set(KEY_PARAMETERS) - stated)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("| `comparisons[0].ratio` | 1 |", "| `comparisons[0].ratio` | 3 |", "comparisons[0].ratio is 3 in the prose"),
        ("**2023-04-01**<!-- risk_model.test_at -->", "**2024-04-01**<!-- risk_model.test_at -->",
         "risk_model.test_at is 2024-04-01 in the prose but '2023-04-01'"),
        ("| `matching.replace` | false |", "| `matching.replace` | true |", "matching.replace is true in the prose"),
    ],
)
def test_prose_drift_is_caught(short: Protocol, old: str, new: str, message: str) -> None:
    text = MD_FILE.read_text(encoding="utf-8")
    assert old in text
    problems = prose_mismatches(short, text.replace(old, new))
    assert len(problems) == 1 and message in problems[0], problems
