"""Validation of input tables: a valid hand-built set passes, and each corruption is reported with
its table, column, rule and exact row count, without touching the caller's frames.

Expected counts are hand-computable: each corruption changes a known number of rows of the small
set in ``_data_helpers.valid_tables`` (documented there), and the rules are those of the data
dictionary (``data_dictionary/*.yaml``) and the table contract (issue #2).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from _data_helpers import valid_tables

from wellness_research.data import (
    RULES,
    ValidationReport,
    Violation,
    load_dictionary,
    read_tables,
    validate,
    validate_directory,
    write_tables,
)
from wellness_research.errors import ConfigurationError, DataValidationError

Tables = dict[str, pd.DataFrame]


@pytest.fixture
def tables() -> Tables:
    return valid_tables()


def _assert_unchanged(before: Tables, after: Tables) -> None:
    assert list(before) == list(after)
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name], check_exact=True)


def _only(report: ValidationReport, *, table: str, column: str | None, rule: str) -> Violation:
    found = report.find(table=table, column=column, rule=rule)
    assert len(found) == 1, report.summary()
    return found[0]


# --- the valid set ------------------------------------------------------------------------------


def test_valid_tables_pass(tables: Tables) -> None:
    before = copy.deepcopy(tables)
    report = validate(tables, require_all=True)
    assert report.ok, report.summary()
    assert report.errors == () and report.warnings == ()
    # Row counts as built by hand in _data_helpers.valid_tables.
    assert dict(report.n_rows) == {name: len(df) for name, df in before.items()}
    assert report.n_rows["residents"] == 4
    _assert_unchanged(before, tables)
    assert report.raise_if_errors() is report


# --- corruptions: (id, corrupt(tables) -> None, table, column, rule, n_rows) ---------------------


def _set(table: str, column: str, row: int, value: object, *, dtype: object = None) -> Callable[[Tables], None]:
    def corrupt(t: Tables) -> None:
        df = t[table].copy()
        if dtype is not None:
            df[column] = df[column].astype(dtype)
        df.loc[row, column] = value
        t[table] = df

    return corrupt


def _drop_column(table: str, column: str) -> Callable[[Tables], None]:
    def corrupt(t: Tables) -> None:
        t[table] = t[table].drop(columns=[column])

    return corrupt


def _duplicate_row(table: str, row: int) -> Callable[[Tables], None]:
    def corrupt(t: Tables) -> None:
        t[table] = pd.concat([t[table], t[table].iloc[[row]]], ignore_index=True)

    return corrupt


def _rename_table(old: str, new: str) -> Callable[[Tables], None]:
    def corrupt(t: Tables) -> None:
        t[new] = t.pop(old)

    return corrupt


def _dates_as_text(table: str, column: str) -> Callable[[Tables], None]:
    def corrupt(t: Tables) -> None:
        df = t[table].copy()
        df[column] = df[column].dt.strftime("%Y-%m-%d").astype(object)
        t[table] = df

    return corrupt


CORRUPTIONS = [
    # A string in an integer column is a wrong type, not something to parse.
    ("string_in_integer", _set("health_checkups", "sbp", 0, "120/80", dtype=object),
     "health_checkups", "sbp", "type", 1),
    ("string_in_steps", _set("tekupo_activity", "steps", 2, "many", dtype=object),
     "tekupo_activity", "steps", "type", 1),
    # Dates held as text in memory: every one of the 4 residents' birth months.
    ("dates_as_text", _dates_as_text("residents", "birth_month"),
     "residents", "birth_month", "type", 4),
    ("unknown_code", _set("residents", "sex", 1, "X"),
     "residents", "sex", "code", 1),
    ("unknown_category_code", _set("ltc_certifications", "level", 0, "要支援3"),
     "ltc_certifications", "level", "code", 1),
    # bmi range is [10, 50] (contract).
    ("out_of_range", _set("health_checkups", "bmi", 0, 75.0),
     "health_checkups", "bmi", "range", 1),
    # cost_yen range is [0, 5,000,000] (contract): a negative cost.
    ("negative_cost", _set("ltc_claims", "cost_yen", 1, -100),
     "ltc_claims", "cost_yen", "range", 1),
    # A missing column concerns all 3 rows of ltc_claims.
    ("missing_column", _drop_column("ltc_claims", "units"),
     "ltc_claims", "units", "missing_column", 3),
    ("null_in_non_nullable", _set("medical_claims", "insurer", 2, np.nan),
     "medical_claims", "insurer", "not_null", 1),
    # Duplicating one row makes 2 rows share a key.
    ("duplicate_key", _duplicate_row("kihon_checklist", 0),
     "kihon_checklist", "person_id, survey_date", "primary_key", 2),
    ("dangling_person", _set("health_checkups", "person_id", 1, "P999"),
     "health_checkups", "person_id", "foreign_key", 1),
    ("dangling_site", _set("soft_attendance", "site_id", 2, "S999"),
     "soft_attendance", "site_id", "foreign_key", 1),
    # P003 born 1935-02: a death in 1930 is before birth.
    ("death_before_birth", _set("residents", "death_date", 2, pd.Timestamp("1930-01-01")),
     "residents", "birth_month, death_date", "date_order", 1),
    # P003 died 2023-08-20: a claim for September 2023 is after the death month.
    ("event_after_death", _set("ltc_claims", "service_month", 2, pd.Timestamp("2023-09-01")),
     "ltc_claims", "service_month", "after_death", 1),
    # P002 born 1945-11: a survey in 1940 is before birth.
    ("event_before_birth", _set("kihon_checklist", "survey_date", 1, pd.Timestamp("1940-01-01")),
     "kihon_checklist", "survey_date", "before_birth", 1),
    # P003's second certification starting 2022-11-01 overlaps the first (to 2022-11-30).
    ("overlapping_certifications", _set("ltc_certifications", "valid_from", 1, pd.Timestamp("2022-11-01")),
     "ltc_certifications", "valid_from, valid_to", "no_overlap", 1),
    ("valid_from_after_valid_to", _set("ltc_certifications", "valid_to", 0, pd.Timestamp("2021-11-01")),
     "ltc_certifications", "valid_from, valid_to", "date_order", 1),
    ("benefit_above_cost", _set("ltc_claims", "benefit_yen", 0, 50000),
     "ltc_claims", "benefit_yen, cost_yen", "value_order", 1),
    ("dbp_above_sbp", _set("health_checkups", "dbp", 0, 130),
     "health_checkups", "dbp, sbp", "value_order", 1),
    ("month_not_first_day", _set("medical_claims", "service_month", 0, pd.Timestamp("2022-05-15")),
     "medical_claims", "service_month", "month_start", 1),
    # Site S001 starts 2024-04-01.
    ("attendance_before_site_start", _set("soft_attendance", "session_date", 0, pd.Timestamp("2024-03-25")),
     "soft_attendance", "session_date", "within_referenced_period", 1),
    # A certified level needs its validity period.
    ("period_missing_when_certified", _set("ltc_certifications", "valid_from", 1, pd.NaT),
     "ltc_certifications", "valid_from", "null_when", 1),
    ("risk_flag_without_response", _set("outreach_contacts", "risk_flag", 1, True),
     "outreach_contacts", "risk_flag", "null_when", 1),
    # The 2 rows of tekupo_users under a misspelt name.
    ("unknown_table", _rename_table("tekupo_users", "tekupo_user"),
     "tekupo_user", None, "unknown_table", 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("corrupt", "table", "column", "rule", "n_rows"),
    [pytest.param(*c[1:], id=c[0]) for c in CORRUPTIONS],
)
def test_corruption_is_reported(
    tables: Tables, corrupt: Callable[[Tables], None], table: str, column: str | None, rule: str, n_rows: int
) -> None:
    corrupt(tables)
    before = copy.deepcopy(tables)
    report = validate(tables)
    _assert_unchanged(before, tables)
    assert not report.ok
    v = _only(report, table=table, column=column, rule=rule)
    assert v.severity == "error"
    assert v.n_rows == n_rows
    assert v.rule in RULES
    assert v.message.startswith(f"{table}.{column}: {rule}: " if column else f"{table}: {rule}: ")
    assert f"{n_rows:,} row(s)" in v.message
    if rule not in ("missing_column", "unknown_table"):
        assert 1 <= len(v.examples) <= min(n_rows, 5)
        assert all("row" in e for e in v.examples)
    # The same violation appears in the frame and in the text summary.
    frame = report.to_frame()
    assert ((frame["table"] == table) & (frame["rule"] == rule) & (frame["n_rows"] == n_rows)).any()
    assert v.message in report.summary()
    with pytest.raises(DataValidationError, match=rule) as info:
        report.raise_if_errors()
    assert info.value.report is report


def test_examples_show_row_and_value(tables: Tables) -> None:
    _set("residents", "sex", 1, "X")(tables)
    v = _only(validate(tables), table="residents", column="sex", rule="code")
    assert v.examples == ({"row": 1, "sex": "X"},)
    assert v.examples_frame().to_dict("records") == [{"row": 1, "sex": "X"}]


def test_many_bad_rows_count_all_show_five(tables: Tables) -> None:
    # 40 rows of P001 claims with an unknown claim type: all 40 are counted, five are shown.
    claims = tables["medical_claims"]
    many = pd.DataFrame(
        {
            "person_id": ["P001"] * 40,
            "service_month": pd.date_range("2019-04-01", periods=40, freq="MS"),
            "claim_type": ["visit"] * 40,
            "insurer": ["kokuho"] * 40,
            "points": [10] * 40,
            "cost_yen": [100] * 40,
        }
    )
    tables["medical_claims"] = pd.concat([claims.astype(object), many], ignore_index=True)
    v = _only(validate(tables), table="medical_claims", column="claim_type", rule="code")
    assert v.n_rows == 40
    assert [e["row"] for e in v.examples] == [3, 4, 5, 6, 7]


def test_wrong_type_reported_once_not_as_null(tables: Tables) -> None:
    _set("ltc_claims", "units", 0, "lots", dtype=object)(tables)
    report = validate(tables)
    assert _only(report, table="ltc_claims", column="units", rule="type").n_rows == 1
    assert report.find(table="ltc_claims", column="units", rule="not_null") == ()


def test_unexpected_column_and_soft_rule_are_warnings(tables: Tables) -> None:
    tables["residents"] = tables["residents"].assign(name_kana="ヤマダ")
    # cost_yen = points x 10 is a warning (a city extract may add meal costs in yen).
    _set("medical_claims", "cost_yen", 0, 15500)(tables)
    report = validate(tables)
    assert report.ok, report.summary()
    assert _only(report, table="residents", column="name_kana", rule="unexpected_column").severity == "warning"
    assert _only(report, table="medical_claims", column="cost_yen, points", rule="multiple_of").n_rows == 1


def test_absent_referenced_table_is_not_checked_warning(tables: Tables) -> None:
    report = validate({"soft_attendance": tables["soft_attendance"]})
    assert report.ok
    rules = {(v.column, v.rule) for v in report.warnings}
    assert ("person_id", "not_checked") in rules and ("site_id", "not_checked") in rules
    assert ("session_date", "not_checked") in rules


def test_require_all_reports_missing_tables(tables: Tables) -> None:
    del tables["tekupo_activity"]
    report = validate(tables, require_all=True)
    assert _only(report, table="tekupo_activity", column=None, rule="missing_table").n_rows == 0
    assert validate(tables).ok


def test_index_labels_do_not_matter(tables: Tables) -> None:
    df = tables["health_checkups"].copy()
    df.index = pd.Index([10, 20])
    df.loc[20, "dbp"] = 200
    tables["health_checkups"] = df
    before = copy.deepcopy(tables)
    report = validate(tables)
    _assert_unchanged(before, tables)
    v = _only(report, table="health_checkups", column="dbp", rule="range")
    assert v.examples == ({"row": 1, "dbp": 200},)


def test_bad_arguments_raise_configuration_error(tables: Tables) -> None:
    with pytest.raises(ConfigurationError, match="mapping"):
        validate([tables["residents"]])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"tables\['residents'\] must be a pandas DataFrame"):
        validate({"residents": tables["residents"].to_dict()})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="require_all"):
        validate(tables, require_all="yes")  # type: ignore[arg-type]


def test_report_renders(tables: Tables) -> None:
    _set("residents", "sex", 1, "X")(tables)
    report = validate(tables)
    frame = report.to_frame()
    assert list(frame.columns) == ["table", "column", "rule", "n_rows", "examples", "message", "severity"]
    assert "<table>" in report._repr_html_() and "residents" in report._repr_html_()
    assert report.summary().startswith("Data validation FAILED")


# --- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(tables: Tables, tmp_path: object, fmt: str) -> None:
    before = copy.deepcopy(tables)
    paths = write_tables(tables, tmp_path, format=fmt)  # type: ignore[arg-type]
    _assert_unchanged(before, tables)
    assert sorted(p.name for p in paths.values()) == sorted(f"{t}.{fmt}" for t in tables)
    loaded = read_tables(tmp_path)  # type: ignore[arg-type]
    assert list(loaded) == list(load_dictionary().table_names)
    for name, df in tables.items():
        got = loaded[name]
        assert list(got.columns) == list(df.columns)
        assert len(got) == len(df)
        for col in df.columns:
            expected = df[col].astype(object).where(df[col].notna(), None).tolist()
            actual = got[col].astype(object).where(got[col].notna(), None).tolist()
            assert actual == expected, (name, col)
    # CSV and Parquet give the dictionary dtypes.
    assert loaded["residents"]["birth_month"].dtype == np.dtype("datetime64[ns]")
    assert str(loaded["health_checkups"]["ldl_c"].dtype) == "Int64"
    report = validate_directory(tmp_path, require_all=True)  # type: ignore[arg-type]
    assert report.ok, report.summary()


def _edit_csv(path: object, row: int, column: str, text: str) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)  # type: ignore[call-overload]
    df.loc[row, column] = text
    df.to_csv(path, index=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "column", "row", "text"),
    [
        pytest.param("health_checkups", "checkup_date", 1, "2021/10/04", id="unparsable_date"),
        pytest.param("ltc_certifications", "valid_to", 0, "2022-02-30", id="impossible_date"),
        pytest.param("ltc_claims", "units", 2, "1,200", id="number_with_comma"),
        pytest.param("outreach_contacts", "responded", 0, "yes", id="boolean_word"),
        pytest.param("tekupo_activity", "month", 0, "2021-11", id="month_without_day"),
    ],
)
def test_unparsable_csv_cell_is_a_type_violation(
    tables: Tables, tmp_path: object, table: str, column: str, row: int, text: str
) -> None:
    paths = write_tables(tables, tmp_path, format="csv")  # type: ignore[arg-type]
    _edit_csv(paths[table], row, column, text)
    loaded = read_tables(tmp_path)  # type: ignore[arg-type]
    # Not silently missing: the text is kept in its cell.
    assert loaded[table][column].iloc[row] == text
    assert len(loaded[table]) == len(tables[table])
    report = validate_directory(tmp_path)  # type: ignore[arg-type]
    v = _only(report, table=table, column=column, rule="type")
    assert v.n_rows == 1
    assert v.examples == ({"row": row, column: text},)
    assert f"{table}.{column}: type: 1 row(s)" in v.message


def test_directory_problems(tables: Tables, tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    report = validate_directory(root)
    assert _only(report, table="*", column=None, rule="missing_table")
    write_tables({"residents": tables["residents"]}, root, format="csv")
    tables["residents"].to_csv(root / "residentz.csv", index=False)
    report = validate_directory(root)
    assert _only(report, table="residentz", column=None, rule="unknown_table")
    tables["residents"].to_parquet(root / "residents.parquet")
    with pytest.raises(ConfigurationError, match="present twice"):
        read_tables(root)
    with pytest.raises(ConfigurationError, match="not an existing folder"):
        read_tables(root / "nowhere")
    with pytest.raises(ConfigurationError, match="format='xlsx'"):
        write_tables(tables, root, format="xlsx")  # type: ignore[arg-type]


def test_csv_encodings_and_unreadable_files(tables: Tables, tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    certs = tables["ltc_certifications"]
    # Excel writes a byte-order mark; Japanese systems often export Shift_JIS (cp932).
    certs.to_csv(root / "ltc_certifications.csv", index=False, encoding="utf-8-sig", date_format="%Y-%m-%d")
    assert list(read_tables(root)["ltc_certifications"].columns) == list(certs.columns)
    certs.to_csv(root / "ltc_certifications.csv", index=False, encoding="cp932", date_format="%Y-%m-%d")
    loaded = read_tables(root, encoding="cp932")
    assert loaded["ltc_certifications"]["level"].tolist() == ["要支援2", "要介護1", "非該当"]
    # Read as UTF-8, the same file cannot be decoded: reported, not raised.
    v = _only(validate_directory(root), table="ltc_certifications", column=None, rule="unreadable_file")
    assert "UnicodeDecodeError" in v.message
    # A row with one field too many.
    (root / "residents.csv").write_text("person_id,birth_month\nP001,1940-05-01,extra\n", encoding="utf-8")
    report = validate_directory(root, encoding="cp932")
    assert "Expected 2 columns, got 3" in _only(report, table="residents", column=None, rule="unreadable_file").message
    with pytest.raises(ConfigurationError, match="encoding='klingon'"):
        read_tables(root, encoding="klingon")
