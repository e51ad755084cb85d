"""The data dictionary is data, and tested: complete, well-formed, and equal to the table contract.

Expected names, types, keys, ranges and codes below are copied from the table contract of issue #2
("Table contract (shared by the dictionary, the validator and the synthetic generator)"); privacy
classes follow the classification rule in ``wellness_research.data.dictionary``'s docstring.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path

import pandas as pd
import pytest
import yaml

from wellness_research.data import DataDictionary, load_dictionary, render_dictionary
from wellness_research.data.dictionary import COLUMN_TYPES, PRIVACY_CLASSES
from wellness_research.errors import ConfigurationError, DataDictionaryError

# --- the contract, as data ----------------------------------------------------------------------
# (column, type, nullable) per table, in contract order.
_PID = ("person_id", "string", False)
CONTRACT: dict[str, list[tuple[str, str, bool]]] = {
    "residents": [
        _PID,
        ("birth_month", "month", False),
        ("sex", "category", False),
        ("district", "category", False),
        ("move_in_date", "date", True),
        ("move_out_date", "date", True),
        ("death_date", "date", True),
    ],
    "kihon_checklist": [_PID, ("survey_date", "date", False)] + [(f"q{i:02d}", "integer", True) for i in range(1, 26)],
    "health_checkups": [
        _PID,
        ("checkup_date", "date", False),
        ("height_cm", "float", True),
        ("weight_kg", "float", True),
        ("bmi", "float", True),
        ("sbp", "integer", True),
        ("dbp", "integer", True),
        ("hba1c", "float", True),
        ("ldl_c", "integer", True),
        ("egfr", "float", True),
    ],
    "ltc_certifications": [
        ("certification_id", "string", False),
        _PID,
        ("application_date", "date", False),
        ("decision_date", "date", False),
        ("level", "category", False),
        ("valid_from", "date", True),
        ("valid_to", "date", True),
    ],
    "ltc_claims": [
        _PID,
        ("service_month", "month", False),
        ("service_type", "category", False),
        ("units", "integer", False),
        ("cost_yen", "integer", False),
        ("benefit_yen", "integer", False),
    ],
    "medical_claims": [
        _PID,
        ("service_month", "month", False),
        ("claim_type", "category", False),
        ("insurer", "category", False),
        ("points", "integer", False),
        ("cost_yen", "integer", False),
    ],
    "soft_sites": [
        ("site_id", "string", False),
        ("district", "category", False),
        ("start_date", "date", False),
        ("end_date", "date", True),
    ],
    "soft_attendance": [_PID, ("site_id", "string", False), ("session_date", "date", False), ("mode", "category", False)],
    "short_term_episodes": [
        ("episode_id", "string", False),
        _PID,
        ("referral_route", "category", False),
        ("assessment_date", "date", False),
        ("able_to_improve", "boolean", False),
        ("start_date", "date", True),
        ("end_date", "date", True),
        ("sessions_attended", "integer", False),
        ("completed", "boolean", False),
        ("destination", "category", True),
    ],
    "outreach_contacts": [
        ("contact_id", "string", False),
        _PID,
        ("survey_date", "date", False),
        ("responded", "boolean", False),
        ("risk_flag", "boolean", True),
        ("visit_date", "date", True),
        ("visit_result", "category", True),
    ],
    "tekupo_users": [_PID, ("registration_date", "date", False)],
    "tekupo_activity": [
        _PID,
        ("month", "month", False),
        ("steps", "integer", False),
        ("points_earned", "integer", False),
        ("points_redeemed", "integer", False),
    ],
}
PRIMARY_KEYS = {
    "residents": ("person_id",),
    "kihon_checklist": ("person_id", "survey_date"),
    "health_checkups": ("person_id", "checkup_date"),
    "ltc_certifications": ("certification_id",),
    "ltc_claims": ("person_id", "service_month", "service_type"),
    "medical_claims": ("person_id", "service_month", "claim_type"),
    "soft_sites": ("site_id",),
    "soft_attendance": ("person_id", "site_id", "session_date", "mode"),
    "short_term_episodes": ("episode_id",),
    "outreach_contacts": ("contact_id",),
    "tekupo_users": ("person_id",),
    "tekupo_activity": ("person_id", "month"),
}
LIFE_EVENTS = {
    "kihon_checklist": ("survey_date",),
    "health_checkups": ("checkup_date",),
    "ltc_certifications": ("application_date", "decision_date"),
    "ltc_claims": ("service_month",),
    "medical_claims": ("service_month",),
    "soft_attendance": ("session_date",),
    "short_term_episodes": ("assessment_date",),
    "outreach_contacts": ("survey_date",),
    "tekupo_users": ("registration_date",),
    "tekupo_activity": ("month",),
}
RANGES = {
    ("residents", "birth_month"): (pd.Timestamp("1900-01-01"), pd.Timestamp("1961-03-01")),
    ("health_checkups", "height_cm"): (120, 200),
    ("health_checkups", "weight_kg"): (25, 150),
    ("health_checkups", "bmi"): (10, 50),
    ("health_checkups", "sbp"): (70, 250),
    ("health_checkups", "dbp"): (30, 150),
    ("health_checkups", "hba1c"): (3, 15),
    ("health_checkups", "ldl_c"): (20, 400),
    ("health_checkups", "egfr"): (2, 150),
    ("ltc_claims", "units"): (0, 200_000),
    ("ltc_claims", "cost_yen"): (0, 5_000_000),
    ("ltc_claims", "benefit_yen"): (0, 5_000_000),
    ("medical_claims", "points"): (0, 10_000_000),
    ("medical_claims", "cost_yen"): (0, 100_000_000),
    ("short_term_episodes", "sessions_attended"): (0, 60),
    ("tekupo_activity", "steps"): (0, 1_500_000),
    ("tekupo_activity", "points_earned"): (0, 100_000),
    ("tekupo_activity", "points_redeemed"): (0, 100_000),
}
RANGES.update({("kihon_checklist", f"q{i:02d}"): (0, 1) for i in range(1, 26)})
CODE_LISTS = {
    "sex": {"M": "男性", "F": "女性"},
    "district": {f"D{i:02d}": f"第{i}圏域" for i in range(1, 13)},
    "care_level": {c: c for c in ("非該当", "要支援1", "要支援2", "要介護1", "要介護2", "要介護3", "要介護4", "要介護5")},
    "service_type": {
        "home": "居宅サービス",
        "community": "地域密着型サービス",
        "facility": "施設サービス",
        "prevention": "介護予防サービス",
        "care_management": "居宅介護支援・介護予防支援",
    },
    "claim_type": {"inpatient": "入院", "outpatient": "入院外", "dental": "歯科", "pharmacy": "調剤"},
    "insurer": {"kokuho": "国民健康保険", "koki": "後期高齢者医療"},
    "mode": {"live": "ライブ", "recorded": "録画"},
    "referral_route": {
        "outreach": "アウトリーチ",
        "community_centre": "地域包括支援センター窓口",
        "care_manager": "ケアマネジャー",
        "self": "本人・家族",
    },
    "destination": {
        "independent": "自立した生活",
        "community_activity": "通いの場等",
        "other_service": "他サービス",
        "certified": "要介護認定",
        "dropped": "中断",
        "died": "死亡",
    },
    "visit_result": {"assessed": "評価に同意", "declined": "辞退", "not_home": "不在", "not_needed": "支援不要"},
}
# Privacy classes fixed by the brief of issue #2.
DIRECT_IDENTIFIERS = {
    t: [c for c in ("certification_id", "episode_id", "contact_id", "person_id") if c in [n for n, _, _ in cols]]
    for t, cols in CONTRACT.items()
    if t != "soft_sites"
}
QUASI = {("residents", "birth_month"), ("residents", "sex"), ("residents", "district")}
SENSITIVE = {
    ("residents", "death_date"),
    ("ltc_certifications", "level"),
    *(("ltc_claims", c) for c in ("units", "cost_yen", "benefit_yen")),
    *(("medical_claims", c) for c in ("points", "cost_yen")),
    *(("health_checkups", c) for c, _, _ in CONTRACT["health_checkups"][2:]),
    *(("kihon_checklist", f"q{i:02d}") for i in range(1, 26)),
}
TABLE_FIELDS = {
    "table", "label_ja", "description", "source_system", "grain", "primary_key", "foreign_keys",
    "date_order", "life_events", "no_overlap", "checks", "columns",
}  # fmt: skip
COLUMN_FIELDS = ["name", "label_ja", "description", "type", "unit", "codes", "range", "nullable", "source_system", "privacy_class"]


@pytest.fixture(scope="module")
def dd() -> DataDictionary:
    return load_dictionary()


def _raw_files() -> dict[str, dict]:
    root = importlib.resources.files("wellness_research") / "data_dictionary"
    return {
        f.name: yaml.safe_load(f.read_text(encoding="utf-8")) for f in root.iterdir() if f.name.endswith(".yaml")
    }


# --- files and fields ---------------------------------------------------------------------------


def test_packaged_folder_is_the_top_level_one() -> None:
    packaged = Path(str(importlib.resources.files("wellness_research") / "data_dictionary"))
    top = Path(__file__).resolve().parents[1] / "data_dictionary"
    assert packaged.resolve() == top.resolve()
    assert load_dictionary(top).table_names == load_dictionary().table_names


def test_every_file_and_column_has_every_field() -> None:
    raw = _raw_files()
    assert sorted(raw) == sorted(f"{t}.yaml" for t in CONTRACT)
    for fname, table in raw.items():
        assert set(table) == TABLE_FIELDS, fname
        assert table["table"] + ".yaml" == fname
        for key in ("label_ja", "description", "source_system", "grain"):
            assert isinstance(table[key], str) and table[key].strip(), (fname, key)
        for col in table["columns"]:
            assert list(col) == COLUMN_FIELDS, (fname, col.get("name"))
            for key in ("name", "label_ja", "description", "source_system"):
                assert isinstance(col[key], str) and col[key].strip(), (fname, col["name"], key)


def test_tables_and_columns_match_the_contract(dd: DataDictionary) -> None:
    assert set(dd.table_names) == set(CONTRACT)
    for name, expected in CONTRACT.items():
        got = [(c.name, c.type, c.nullable) for c in dd.table(name).columns]
        assert got == expected, name


def test_types_and_privacy_classes_are_from_the_allowed_sets(dd: DataDictionary) -> None:
    assert COLUMN_TYPES == ("string", "integer", "float", "boolean", "date", "month", "category")
    assert PRIVACY_CLASSES == ("direct_identifier", "quasi_identifier", "sensitive", "none")
    for spec in dd:
        for col in spec.columns:
            assert col.type in COLUMN_TYPES and col.privacy_class in PRIVACY_CLASSES, (spec.name, col.name)


def test_codes_only_and_always_on_category_columns(dd: DataDictionary) -> None:
    for spec in dd:
        for col in spec.columns:
            assert (col.codes is not None) == (col.type == "category"), (spec.name, col.name)
            if col.codes is not None:
                assert len(col.codes) >= 2
                assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in col.codes.items())


def test_every_code_list_is_used_and_every_category_uses_one(dd: DataDictionary) -> None:
    used = {name: 0 for name in CODE_LISTS}
    for spec in dd:
        for col in spec.columns:
            if col.codes is None:
                continue
            matches = [name for name, codes in CODE_LISTS.items() if dict(col.codes) == codes]
            assert len(matches) == 1, (spec.name, col.name, dict(col.codes))
            used[matches[0]] += 1
    assert all(n >= 1 for n in used.values()), used
    assert used["district"] == 2  # residents and soft_sites share the 圏域 codes


def test_ranges_are_well_formed_and_match_the_contract(dd: DataDictionary) -> None:
    ranged = {}
    for spec in dd:
        for col in spec.columns:
            if col.range is None:
                continue
            assert col.type in ("integer", "float", "date", "month"), (spec.name, col.name)
            lo, hi = col.range
            assert lo is not None or hi is not None
            if lo is not None and hi is not None:
                assert lo <= hi
            ranged[(spec.name, col.name)] = (lo, hi)
    assert ranged == RANGES


def test_keys_and_rule_columns_exist(dd: DataDictionary) -> None:
    for spec in dd:
        names = set(spec.column_names)
        assert spec.primary_key == PRIMARY_KEYS[spec.name]
        assert set(spec.primary_key) <= names
        assert all(not spec.column(c).nullable for c in spec.primary_key)
        for fk in spec.foreign_keys:
            assert set(fk.columns) <= names
            assert set(fk.ref_columns) <= set(dd.table(fk.ref_table).column_names)
            # A foreign key points at the referenced table's primary key.
            assert fk.ref_columns == dd.table(fk.ref_table).primary_key
        temporal = {c.name for c in spec.columns if c.type in ("date", "month")}
        for a, b in spec.date_order:
            assert {a, b} <= temporal
        assert set(spec.life_events) <= temporal
        assert spec.life_events == LIFE_EVENTS.get(spec.name, ())
        for item in spec.no_overlap:
            assert set(item.group) <= names and {item.start, item.end} <= temporal
        for chk in spec.checks:
            assert set(chk.columns) <= names


def test_foreign_keys_and_rules_of_the_contract(dd: DataDictionary) -> None:
    fks = {
        (t.name, fk.columns, fk.ref_table) for t in dd for fk in t.foreign_keys
    }
    expected = {(t, ("person_id",), "residents") for t in CONTRACT if t not in ("residents", "soft_sites", "tekupo_activity")}
    expected |= {("soft_attendance", ("site_id",), "soft_sites"), ("tekupo_activity", ("person_id",), "tekupo_users")}
    assert fks == expected
    assert ("move_in_date", "move_out_date") in dd.table("residents").date_order
    assert ("valid_from", "valid_to") in dd.table("ltc_certifications").date_order
    assert ("application_date", "decision_date") in dd.table("ltc_certifications").date_order
    assert ("start_date", "end_date") in dd.table("soft_sites").date_order
    assert ("survey_date", "visit_date") in dd.table("outreach_contacts").date_order
    overlap = dd.table("ltc_certifications").no_overlap[0]
    assert (overlap.group, overlap.start, overlap.end) == (("person_id",), "valid_from", "valid_to")
    checks = {(t.name, c.rule, c.columns) for t in dd for c in t.checks}
    assert ("health_checkups", "value_order", ("dbp", "sbp")) in checks
    assert ("ltc_claims", "value_order", ("benefit_yen", "cost_yen")) in checks
    assert ("soft_attendance", "within_referenced_period", ("session_date",)) in checks


def test_privacy_classes(dd: DataDictionary) -> None:
    assert dd.identifier_columns() == {t: sorted(c, key=dd.table(t).column_names.index) for t, c in DIRECT_IDENTIFIERS.items()}
    for spec in dd:
        for col in spec.columns:
            if (spec.name, col.name) in QUASI:
                assert col.privacy_class == "quasi_identifier", col.name
            if (spec.name, col.name) in SENSITIVE:
                assert col.privacy_class == "sensitive", (spec.name, col.name)
    with pytest.raises(ConfigurationError, match="privacy_class='secret'"):
        dd.columns_with_privacy("secret")  # type: ignore[arg-type]


def test_dictionary_is_frozen(dd: DataDictionary) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        dd.table("residents").name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        dd.tables["x"] = dd.table("residents")  # type: ignore[index]
    with pytest.raises(TypeError):
        dd.table("residents").column("sex").codes["X"] = "?"  # type: ignore[index]
    with pytest.raises(ConfigurationError, match="table 'people' is not in the data dictionary"):
        dd.table("people")
    with pytest.raises(ConfigurationError, match="column 'age' is not in table 'residents'"):
        dd.table("residents").column("age")


def test_tables_come_in_dependency_order(dd: DataDictionary) -> None:
    order = dd.table_names
    for spec in dd:
        for fk in spec.foreign_keys:
            assert order.index(fk.ref_table) < order.index(spec.name)


# --- a broken dictionary is refused with the file and field named -------------------------------


def _write(tmp: Path, edit: object) -> Path:
    raw = _raw_files()
    for fname, table in raw.items():
        edit(fname, table)  # type: ignore[operator]
        (tmp / fname).write_text(yaml.safe_dump(table, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return tmp


def _column(table: dict, name: str) -> dict:
    return next(c for c in table["columns"] if c["name"] == name)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        pytest.param(lambda f, t: _column(t, "sex").pop("unit") if f == "residents.yaml" else None,
                     r"residents.yaml column 'sex': missing fields \['unit'\]", id="missing_field"),
        pytest.param(lambda f, t: _column(t, "sex").update(type="text") if f == "residents.yaml" else None,
                     "type 'text' is not one of", id="bad_type"),
        pytest.param(lambda f, t: _column(t, "sex").update(privacy_class="secret") if f == "residents.yaml" else None,
                     "privacy_class 'secret'", id="bad_privacy"),
        pytest.param(lambda f, t: _column(t, "units").update(codes={"a": "b"}) if f == "ltc_claims.yaml" else None,
                     "codes are only allowed on category columns", id="codes_on_integer"),
        pytest.param(lambda f, t: _column(t, "bmi").update(range=[50, 10]) if f == "health_checkups.yaml" else None,
                     "has min > max", id="reversed_range"),
        pytest.param(lambda f, t: t.update(primary_key=["nobody"]) if f == "tekupo_users.yaml" else None,
                     "primary_key names column 'nobody'", id="unknown_key_column"),
        pytest.param(lambda f, t: t["foreign_keys"][0]["references"].update(table="people") if f == "tekupo_users.yaml" else None,
                     "foreign key to unknown table 'people'", id="unknown_fk_table"),
        pytest.param(lambda f, t: t.update(life_events=["units"]) if f == "ltc_claims.yaml" else None,
                     "life_events names column 'units' of type integer", id="life_event_not_a_date"),
        pytest.param(lambda f, t: t.update(extra=1) if f == "soft_sites.yaml" else None,
                     r"unknown fields \['extra'\]", id="unknown_table_field"),
    ],
)
def test_broken_dictionary_is_refused(tmp_path: Path, edit: object, match: str) -> None:
    root = _write(tmp_path, edit)
    with pytest.raises(DataDictionaryError, match=match):
        load_dictionary(root)


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataDictionaryError, match="holds no"):
        load_dictionary(tmp_path)


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_render_has_every_table_and_column(dd: DataDictionary, fmt: str) -> None:
    page = render_dictionary(format=fmt)  # type: ignore[arg-type]
    for spec in dd:
        heading = f"## {spec.name}\n" if fmt == "markdown" else f'<section id="{spec.name}"><h2>{spec.name} — {spec.label_ja}</h2>'
        assert page.count(heading) == 1, spec.name
        for col in spec.columns:
            assert col.name in page and col.label_ja in page
    assert "第12圏域" in page and "direct_identifier" in page


def test_render_markdown_rows() -> None:
    page = render_dictionary()
    assert "| `bmi` | BMI | float | kg/m2 | [10, 50] | yes | sensitive | Body-mass index as recorded (kg/m2). |" in page
    assert "| `sex` | 性別 | category |  | M: 男性; F: 女性 | no | quasi_identifier | Sex as registered. |" in page
    with pytest.raises(ConfigurationError, match="format='pdf' is not valid"):
        render_dictionary(format="pdf")  # type: ignore[arg-type]
