"""Tests of wellness_research.privacy: pseudonymisation, linkage, suppression, identifier scan.

Reference values are either stated as their definition (HMAC computed here with hmac+hashlib), a
published test vector (RFC 4231), or hand-derived in the comment next to them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools

import nbformat
import numpy as np
import pandas as pd
import pytest

from wellness_research.errors import ConfigurationError, DataValidationError, PrivacyError
from wellness_research.privacy import (
    DEMO_KEY,
    PseudonymKey,
    linkage_report,
    load_key,
    pseudonym,
    pseudonymise,
    scan_notebook,
    scan_outputs,
    suppress_small_cells,
)

KEY_TEXT = "k" * 32 + "-test-key"  # 41 bytes, above the 32-byte minimum
KEY = PseudonymKey(secret=KEY_TEXT.encode(), source="test")
ID_COLUMNS = ("certification_id", "contact_id", "episode_id", "person_id")


def _expected(raw: str, secret: bytes = KEY_TEXT.encode()) -> str:
    # The definition: first 20 hex characters of HMAC-SHA256(key, UTF-8 bytes of the raw id).
    return hmac.new(secret, raw.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def _tables() -> dict[str, pd.DataFrame]:
    residents = pd.DataFrame({"person_id": ["P001", "P002", "P003"], "sex": ["M", "F", "F"]})
    claims = pd.DataFrame(
        {"person_id": ["P002", "P001", "P002", "P003"], "cost_yen": [100, 200, 300, 400]}
    )
    return {"residents": residents, "ltc_claims": claims}


# --------------------------------------------------------------------------------------------
# Pseudonymisation
# --------------------------------------------------------------------------------------------


def test_hmac_sha256_primitive_rfc4231_case2() -> None:
    # RFC 4231 §4.3 (test case 2): key "Jefe", data "what do ya want for nothing?".
    # This is the exact call the library makes (hmac.digest(key, data, "sha256")).
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac.digest(b"Jefe", b"what do ya want for nothing?", "sha256").hex() == expected


def test_pseudonym_is_truncated_hmac_of_the_raw_id() -> None:
    assert pseudonym("P001", key=KEY) == _expected("P001")
    assert len(pseudonym("P001", key=KEY)) == 20
    # Integers are hashed as their decimal text.
    assert pseudonym(1001, key=KEY) == _expected("1001")
    res = pseudonymise(_tables(), key=KEY, synthetic=False, columns={"residents": ["person_id"]})
    assert res.tables["residents"]["person_id"].tolist() == [
        _expected("P001"),
        _expected("P002"),
        _expected("P003"),
    ]


def test_pseudonymise_is_deterministic_and_key_dependent() -> None:
    cols = {"residents": ["person_id"], "ltc_claims": ["person_id"]}
    first = pseudonymise(_tables(), key=KEY, synthetic=False, columns=cols)
    second = pseudonymise(_tables(), key=KEY, synthetic=False, columns=cols)
    other = pseudonymise(_tables(), key=DEMO_KEY, synthetic=True, columns=cols)
    for name in cols:
        pd.testing.assert_frame_equal(first.tables[name], second.tables[name])
        assert not first.tables[name]["person_id"].isin(other.tables[name]["person_id"]).any()


def test_same_id_same_pseudonym_across_tables_keeps_linkage() -> None:
    cols = {"residents": ["person_id"], "ltc_claims": ["person_id"]}
    res = pseudonymise(_tables(), key=KEY, synthetic=False, columns=cols)
    residents, claims = res.tables["residents"], res.tables["ltc_claims"]
    by_raw = dict(zip(["P001", "P002", "P003"], residents["person_id"], strict=True))
    assert claims["person_id"].tolist() == [by_raw[r] for r in ["P002", "P001", "P002", "P003"]]
    assert linkage_report(res.tables).ok
    assert res.columns == {"residents": ("person_id",), "ltc_claims": ("person_id",)}
    assert res.distinct_ids == 3
    assert res.key_fingerprint == KEY.fingerprint


def test_demo_key_refused_for_real_data() -> None:
    with pytest.raises(PrivacyError, match="demo key for synthetic data only"):
        pseudonymise(_tables(), key=DEMO_KEY, synthetic=False, columns={"residents": ["person_id"]})
    with pytest.raises(ConfigurationError, match="synthetic must be True or False, got 1"):
        pseudonymise(_tables(), key=DEMO_KEY, synthetic=1, columns={})  # type: ignore[arg-type]


def test_load_key_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("WR_TEST_KEY", KEY_TEXT + "\n")
    from_env = load_key(env_var="WR_TEST_KEY")
    assert from_env.secret == KEY_TEXT.encode()  # surrounding whitespace stripped
    assert from_env.fingerprint == KEY.fingerprint
    assert "WR_TEST_KEY" in from_env.source

    key_file = tmp_path / "pseudonym.key"
    key_file.write_text("f" * 64 + "\n", encoding="utf-8")
    from_file = load_key(env_var="WR_TEST_KEY", key_file=key_file)  # the file wins over the env
    assert from_file.secret == b"f" * 64
    assert str(key_file.name) in from_file.source

    # The demo secret loaded from the environment is still recognised as the demo key.
    monkeypatch.setenv("WR_DEMO", DEMO_KEY.secret.decode())
    assert load_key(env_var="WR_DEMO").is_demo


def test_load_key_errors(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("WR_ABSENT_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=r"'WR_ABSENT_KEY' is not set and no key_file"):
        load_key(env_var="WR_ABSENT_KEY")
    monkeypatch.setenv("WR_SHORT_KEY", "x" * 31)
    with pytest.raises(PrivacyError, match="minimum key length.*31 bytes; at least 32"):
        load_key(env_var="WR_SHORT_KEY")
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_key(key_file=tmp_path / "missing.key")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "secrets").mkdir()
    inside = repo / "secrets" / "k.key"
    inside.write_text("z" * 40, encoding="utf-8")
    with pytest.raises(PrivacyError, match="key never in the repository"):
        load_key(key_file=inside)


def test_key_repr_never_shows_secret() -> None:
    for text in (repr(KEY), str(KEY), repr(DEMO_KEY)):
        assert "kkkkkkkk" not in text and "NOT SECRET" not in text
    assert KEY.fingerprint in repr(KEY)
    res = pseudonymise(_tables(), key=KEY, synthetic=False, columns={"residents": ["person_id"]})
    assert KEY_TEXT not in res.summary() and KEY_TEXT not in res._repr_html_()


def test_categorical_and_string_dtypes_preserved() -> None:
    ids = ["P2", "P1", "P2", "P3"]
    frame = pd.DataFrame(
        {
            "person_id": pd.Categorical(ids, categories=["P1", "P2", "P3", "P9"]),
            "episode_id": pd.array(["E1", "E2", "E3", "E4"], dtype="string"),
            "contact_id": [11, 12, 13, 14],
        }
    )
    res = pseudonymise(
        {"t": frame}, key=KEY, synthetic=False, columns={"t": ["person_id", "episode_id", "contact_id"]}
    )
    out = res.tables["t"]
    assert isinstance(out["person_id"].dtype, pd.CategoricalDtype)
    assert out["person_id"].astype(str).tolist() == [_expected(i) for i in ids]
    assert len(out["person_id"].cat.categories) == 4  # the unused category P9 is kept (hashed)
    assert out["episode_id"].dtype == "string"
    assert out["episode_id"].tolist() == [_expected(f"E{i}") for i in range(1, 5)]
    assert out["contact_id"].tolist() == [_expected(str(i)) for i in range(11, 15)]


@pytest.mark.parametrize("copy", [True, False])
def test_caller_frames_unchanged(copy: bool) -> None:
    tables = _tables()
    tables["residents"]["person_id"] = tables["residents"]["person_id"].astype("category")
    before = {name: frame.copy(deep=True) for name, frame in tables.items()}
    res = pseudonymise(
        tables,
        key=KEY,
        synthetic=False,
        columns={"residents": ["person_id"], "ltc_claims": ["person_id"]},
        copy=copy,
    )
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], before[name])
        assert res.tables[name] is not tables[name]


def test_null_and_float_ids_are_errors() -> None:
    frame = pd.DataFrame({"person_id": ["P1", None, None, "P4"]})
    message = r"table 't', column 'person_id' has 2 null value\(s\) of 4 rows"
    with pytest.raises(PrivacyError, match=message):
        pseudonymise({"t": frame}, key=KEY, synthetic=False, columns={"t": ["person_id"]})
    floats = pd.DataFrame({"person_id": [1001.0, 1002.0]})
    with pytest.raises(PrivacyError, match="table 't', column 'person_id' has dtype float64"):
        pseudonymise({"t": floats}, key=KEY, synthetic=False, columns={"t": ["person_id"]})


def test_pseudonymise_rejects_unknown_tables_and_columns() -> None:
    with pytest.raises(ConfigurationError, match=r"names tables \['nope'\]"):
        pseudonymise(_tables(), key=KEY, synthetic=False, columns={"nope": ["person_id"]})
    with pytest.raises(ConfigurationError, match=r"table 'residents' has no column\(s\) \['pid'\]"):
        pseudonymise(_tables(), key=KEY, synthetic=False, columns={"residents": ["pid"]})


# --------------------------------------------------------------------------------------------
# Linkage
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("categorical", [False, True])
def test_linkage_report_counts_hand_case(categorical: bool) -> None:
    secret_id = "ZZUNMATCHED7"
    claims_ids = pd.Series(["P001", "P001", secret_id, secret_id, None, "P002"])
    if categorical:
        claims_ids = claims_ids.astype("category")
    tables = {
        "residents": pd.DataFrame({"person_id": ["P001", "P002", "P003"]}),
        "ltc_claims": pd.DataFrame({"person_id": claims_ids}),
        "soft_sites": pd.DataFrame({"site_id": ["S001"]}),
    }
    rep = linkage_report(tables)
    # Hand count: claims has 6 rows, ids {P001, P002, ZZ..} = 3 distinct, 2 in residents,
    # 1 unmatched id on 2 rows, 1 null row.
    expected = pd.DataFrame(
        {
            "table": ["residents", "ltc_claims"],
            "rows": [3, 6],
            "distinct_ids": [3, 3],
            "matched_ids": [3, 2],
            "unmatched_ids": [0, 1],
            "unmatched_rows": [0, 2],
            "null_id_rows": [0, 1],
        }
    )
    pd.testing.assert_frame_equal(rep.to_frame(), expected)
    assert not rep.ok
    assert rep.skipped == ("soft_sites",)
    assert secret_id not in rep.summary() and secret_id not in rep._repr_html_()


def test_linkage_report_errors() -> None:
    with pytest.raises(ConfigurationError, match="anchor='people' is not one of the tables"):
        linkage_report(_tables(), anchor="people")
    with pytest.raises(ConfigurationError, match="has no column key='pid'"):
        linkage_report(_tables(), key="pid")


# --------------------------------------------------------------------------------------------
# Small-cell suppression
# --------------------------------------------------------------------------------------------


def _unrecoverable(grid: np.ndarray, masked: np.ndarray, total_row: bool, total_col: bool) -> bool:
    """Independent check: no masked cell is determined by the row/column total equations.

    Unknowns are the masked cells; each row and column gives one linear equation (interior cells
    +1, a total cell in the table -1, totals not in the table are known constants). A masked cell is
    recoverable iff its unit vector is in the row space: rank([A; e_j]) == rank(A).
    """
    n_rows, n_cols = grid.shape
    ids = np.arange(grid.size).reshape(grid.shape)
    equations = []
    for i in range(n_rows):
        row = np.zeros(grid.size)
        row[ids[i]] = 1.0
        if total_col:
            row[ids[i, -1]] = -1.0
        equations.append(row)
    for j in range(n_cols):
        col = np.zeros(grid.size)
        col[ids[:, j]] = 1.0
        if total_row:
            col[ids[-1, j]] = -1.0
        equations.append(col)
    a = np.array(equations)[:, masked.ravel()]
    rank = np.linalg.matrix_rank(a)
    for k in range(a.shape[1]):
        unit = np.zeros(a.shape[1])
        unit[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            return False
    return True


def _lines_ok(masked: np.ndarray) -> bool:
    # Every row and column with a masked cell has at least two.
    return all(m.sum() != 1 for m in itertools.chain(masked, masked.T))


def test_suppression_3x3_hand_case() -> None:
    # One small cell (5) at (x, a). Hand derivation of the line rule:
    # row x = [5, 40, 0] -> mask 40 (smallest non-zero; 0 is never chosen while a non-zero exists);
    # col a = [5, 20, 30] -> mask 20; row y = [20*, 50, 80] -> mask 50; col b = [40*, 50*, 60] ok.
    table = pd.DataFrame(
        {"a": [5, 20, 30], "b": [40, 50, 60], "c": [0, 80, 90]}, index=["x", "y", "z"]
    )
    before = table.copy(deep=True)
    res = suppress_small_cells(table)
    expected_reason = pd.DataFrame(
        {"a": ["primary", "secondary", ""], "b": ["secondary", "secondary", ""], "c": ["", "", ""]},
        index=["x", "y", "z"],
    )
    pd.testing.assert_frame_equal(res.reason, expected_reason)
    assert (res.primary, res.secondary, res.recoverable) == (1, 3, 0)
    assert res.table.loc["x", "a"] == "<10" and res.table.loc["x", "b"] == "x"
    assert res.table.loc["x", "c"] == 0  # zero is shown (NDB: 0 may be published)
    masked = res.mask.to_numpy()
    assert _lines_ok(masked)
    assert _unrecoverable(table.to_numpy(), masked, total_row=False, total_col=False)
    pd.testing.assert_frame_equal(table, before)


def test_suppression_with_margins_crosstab() -> None:
    rows = pd.Series(list("aabbbcc") * 5 + ["c"] * 6, name="r")
    cols = pd.Series(list("xyxyzzz") * 5 + ["x"] * 6, name="c")
    table = pd.crosstab(rows, cols, margins=True)
    res = suppress_small_cells(table)  # margins="auto" recognises crosstab's "All"
    assert res.total_row and res.total_column
    masked = res.mask.to_numpy()
    assert res.primary == int(((table.to_numpy() > 0) & (table.to_numpy() < 10)).sum())
    assert _lines_ok(masked)  # the total row and total column are lines too
    assert _unrecoverable(table.to_numpy(), masked, total_row=True, total_col=True)
    assert res.recoverable == 0


def test_suppression_exact_recovery_audit_beyond_the_line_rule() -> None:
    # Two 2x2 blocks of small cells joined by one small cell at (1, 3): every line holds 0 or >= 2
    # masked cells, yet cell (1, 3) = row-1 total minus known cells minus the block's row sum,
    # which the column equations pin down (a bridge in the row/column graph of masked cells).
    grid = np.full((6, 6), 100)
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1), (3, 3), (3, 4), (4, 3), (4, 4), (1, 3)]:
        grid[i, j] = 3
    table = pd.DataFrame(grid)
    primary_only = suppress_small_cells(table, secondary=False)
    assert _lines_ok(primary_only.mask.to_numpy())
    assert not _unrecoverable(grid, primary_only.mask.to_numpy(), False, False)
    assert primary_only.recoverable == 1
    res = suppress_small_cells(table)
    assert res.secondary == 1  # one cell joining the two blocks breaks the bridge
    assert _unrecoverable(grid, res.mask.to_numpy(), False, False)


def test_suppression_long_format_and_rates() -> None:
    table = pd.DataFrame(
        {
            "district": ["D01", "D01", "D02", "D02", "D03", "D03"],
            "sex": ["M", "F", "M", "F", "M", "F"],
            "n": [5, 30, 40, 50, 0, 70],
            "population": [100, 200, 300, 400, 8, 600],
        }
    )
    table["rate"] = table["n"] / table["population"]
    res = suppress_small_cells(
        table,
        group_columns=["district", "sex"],
        count_columns=["n"],
        rate_columns={"rate": ("n", "population")},
    )
    # Lines: districts (M, F) and sexes (D01, D02, D03). Hand derivation: D01 M = 5 primary;
    # line D01 -> mask F 30; line sex=M [5*, 40, 0] -> mask 40 (non-zero first);
    # line sex=F [30*, 50, 70] ok; line D02 [40*, 50] -> mask 50. D03 stays (0 shown).
    assert res.reason["n"].tolist() == ["primary", "secondary", "secondary", "secondary", "", ""]
    # Rates: rows 0-3 by masked numerators; row 4 by its denominator 8 < 10 although n = 0.
    assert res.reason["rate"].tolist() == ["derived"] * 5 + [""]
    assert res.table["rate"].iloc[5] == pytest.approx(70 / 600)
    assert res.table["population"].equals(table["population"])  # not a count column here
    assert res.derived == 5 and res.layout == "long"


def test_suppression_rate_with_zero_numerator_shown() -> None:
    table = pd.DataFrame({"g": ["a", "b"], "n": [0, 20], "d": [500, 400], "rate": [0.0, 0.05]})
    res = suppress_small_cells(
        table, group_columns=["g"], count_columns=["n"], rate_columns={"rate": ("n", "d")}
    )
    assert res.table["rate"].tolist() == [0.0, 0.05]
    assert res.derived == 0


def test_suppression_na_mode_and_markers() -> None:
    table = pd.DataFrame({"a": [5, 20], "b": [40, 50]})
    res = suppress_small_cells(table, mask="na")
    assert res.table["a"].dtype == "Int64"
    assert res.table["a"].isna().tolist() == [True, True]  # 5 primary, 20 secondary (column a)
    res5 = suppress_small_cells(pd.DataFrame({"a": [3, 20], "b": [40, 50]}), min_count=5)
    assert res5.table["a"].iloc[0] == "<5"


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([5, -1, 20], "1 negative value"),
        ([5.5, 1.0, 20.0], "1 non-integer value"),
        ([5.0, np.nan, 20.0], "1 missing value"),
    ],
)
def test_suppression_rejects_bad_counts(values: list[float], match: str) -> None:
    table = pd.DataFrame({"a": values, "b": [10, 20, 30]})
    with pytest.raises(DataValidationError, match=match):
        suppress_small_cells(table)


def test_suppression_parameter_and_total_errors() -> None:
    table = pd.DataFrame({"a": [5, 20], "b": [40, 50]})
    message = r"mask='hide' is not valid; use one of \['marker', 'na'\]"
    with pytest.raises(ConfigurationError, match=message):
        suppress_small_cells(table, mask="hide")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="margins='yes' is not valid"):
        suppress_small_cells(table, margins="yes")  # type: ignore[arg-type]
    wrong_total = pd.DataFrame({"a": [5, 20, 26], "b": [40, 50, 90]}, index=["x", "y", "All"])
    with pytest.raises(DataValidationError, match=r"in column 'a' it is 26 while the rows above sum to 25"):
        suppress_small_cells(wrong_total)
    dup = pd.DataFrame({"g": ["a", "a"], "n": [1, 2]})
    with pytest.raises(DataValidationError, match="2 rows share their group values"):
        suppress_small_cells(dup, group_columns=["g"])


# --------------------------------------------------------------------------------------------
# Identifier scanner
# --------------------------------------------------------------------------------------------


def _notebook(path, outputs_by_cell: list[tuple[str, list]]) -> None:
    nb = nbformat.v4.new_notebook()
    for source, outputs in outputs_by_cell:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = outputs
        nb.cells.append(cell)
    nbformat.write(nb, path)


def _display(frame: pd.DataFrame) -> dict:
    return nbformat.v4.new_output(
        "execute_result", data={"text/plain": repr(frame), "text/html": frame.to_html()}, execution_count=1
    )


def _clean_outputs() -> list:
    aggregate = pd.DataFrame({"district": ["D01", "D02"], "n": [120, 340]})
    return [
        _display(aggregate),
        nbformat.v4.new_output(
            "stream", name="stdout", text="Index(['person_id', 'sex'], dtype='object')\n"
        ),
        nbformat.v4.new_output("stream", name="stdout", text=" 0   person_id  3 non-null   object\n"),
    ]


def test_scan_finds_id_in_text_output_and_masks_it(tmp_path) -> None:
    path = tmp_path / "nb.ipynb"
    stream = nbformat.v4.new_output("stream", name="stdout", text="worst case: P0000123 (cost 5)\n")
    _notebook(path, [("x = 1", []), ("print(x)", [stream])])
    rep = scan_notebook(path, identifiers=["P0000123", "P0000999"], identifier_columns=ID_COLUMNS)
    assert not rep.ok
    (finding,) = rep.findings
    assert (finding.cell, finding.kind) == (1, "identifier_value")
    assert finding.location == "output 0 (text/plain)"
    assert "P0******" in finding.message
    for text in (finding.message, rep.summary(), rep._repr_html_(), str(rep.to_frame())):
        assert "P0000123" not in text
    with pytest.raises(PrivacyError, match="no identifiers in published outputs"):
        rep.raise_if_found()


def test_scan_finds_pseudonym_in_html_table(tmp_path) -> None:
    pseudo = _expected("P0000123")
    frame = pd.DataFrame({"pid": [pseudo], "n": [3]})
    path = tmp_path / "nb.ipynb"
    html = nbformat.v4.new_output("display_data", data={"text/html": frame.to_html()})
    _notebook(path, [("show()", [html])])
    rep = scan_notebook(path, identifiers=[pseudo], identifier_columns=ID_COLUMNS)
    assert [(f.kind, f.location) for f in rep.findings] == [("identifier_value", "output 0 (text/html)")]
    assert pseudo not in rep.summary()
    # A longer token that merely contains the id is not a match.
    _notebook(path, [("show()", [nbformat.v4.new_output("stream", name="stdout", text=pseudo + "ab\n")])])
    assert scan_notebook(path, identifiers=[pseudo], identifier_columns=ID_COLUMNS).ok


def test_scan_finds_identifier_column_headers(tmp_path) -> None:
    frame = pd.DataFrame({"person_id": ["a", "b"], "n": [1, 2]})
    path = tmp_path / "nb.ipynb"
    plain = nbformat.v4.new_output("execute_result", data={"text/plain": repr(frame)}, execution_count=1)
    html = nbformat.v4.new_output(
        "display_data", data={"text/html": frame.set_index("person_id").to_html()}
    )
    series = nbformat.v4.new_output("stream", name="stdout", text=repr(frame["person_id"]))
    _notebook(path, [("frame", [plain]), ("display(frame)", [html]), ("print(s)", [series])])
    rep = scan_notebook(path, identifier_columns=ID_COLUMNS)
    assert [(f.cell, f.kind) for f in rep.findings] == [(i, "identifier_column") for i in range(3)]
    assert all("'person_id'" in f.message for f in rep.findings)


def test_scan_error_traceback_with_ansi_codes(tmp_path) -> None:
    path = tmp_path / "nb.ipynb"
    # The id is glued to colour codes ("...31mP0000123..."): found only if ANSI codes are stripped.
    err = nbformat.v4.new_output(
        "error", ename="KeyError", evalue="lookup failed", traceback=["\x1b[0;31mP0000123\x1b[0m"]
    )
    _notebook(path, [("lookup()", [err])])
    rep = scan_notebook(path, identifiers=["P0000123"], identifier_columns=ID_COLUMNS)
    assert [f.location for f in rep.findings] == ["output 0 (error)"]


def test_scan_passes_clean_notebook(tmp_path) -> None:
    path = tmp_path / "clean.ipynb"
    _notebook(path, [("df[['person_id', 'sex']].groupby('sex').size()", _clean_outputs())])
    ids = [f"P{i:07d}" for i in range(150_000)]  # city-sized identifier list
    rep = scan_notebook(path, identifiers=ids, identifier_columns=ID_COLUMNS)
    assert rep.ok, rep.summary()
    assert rep.n_identifiers == 150_000
    rep.raise_if_found()


def test_scan_outputs_over_folder(tmp_path) -> None:
    _notebook(tmp_path / "clean.ipynb", [("x", _clean_outputs())])
    frame = pd.DataFrame({"person_id": ["Q123456"], "n": [1]})
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "report.html").write_text(
        "<html><body><p>ok</p>\n" + frame.to_html() + "</body></html>", encoding="utf-8"
    )
    rep = scan_outputs(tmp_path, identifiers=["Q123456"], identifier_columns=ID_COLUMNS)
    assert len(rep.files) == 2
    kinds = sorted(f.kind for f in rep.findings)
    assert kinds == ["identifier_column", "identifier_value"]
    assert all(f.file.endswith("report.html") and f.cell is None for f in rep.findings)
    assert "Q123456" not in rep.summary()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="no .ipynb or .html file"):
        scan_outputs(empty, identifier_columns=ID_COLUMNS)


# --------------------------------------------------------------------------------------------
# Integration with the data dictionary and the synthetic municipality
# --------------------------------------------------------------------------------------------


def test_dictionary_defaults_on_the_synthetic_municipality(tmp_path) -> None:
    from wellness_research.data import load_dictionary, validate
    from wellness_research.synthetic import make_municipality

    tables, _ = make_municipality("tiny", seed=0)
    res = pseudonymise(tables, key=DEMO_KEY, synthetic=True)  # columns from the dictionary
    expected = {
        name: tuple(cols) for name, cols in load_dictionary().identifier_columns().items()
    }
    assert {name: cols for name, cols in res.columns.items() if cols} == expected
    # The data dictionary: person_id links 11 tables; three more own ids.
    assert sum("person_id" in cols for cols in res.columns.values()) == 11
    assert res.columns["ltc_certifications"] == ("certification_id", "person_id")
    assert res.columns["soft_sites"] == ()
    raw_ids = set(tables["residents"]["person_id"].astype(str))
    for name, frame in res.tables.items():
        for col in res.columns[name]:
            values = frame[col].astype(str)
            assert values.str.fullmatch(r"[0-9a-f]{20}").all(), (name, col)
            assert not values.isin(raw_ids).any(), (name, col)
            if isinstance(tables[name][col].dtype, pd.CategoricalDtype):
                assert isinstance(frame[col].dtype, pd.CategoricalDtype), (name, col)
    # Pseudonymisation keeps every key and link: same linkage counts, still a valid extract.
    pd.testing.assert_frame_equal(
        linkage_report(res.tables).to_frame(), linkage_report(tables).to_frame()
    )
    assert validate(res.tables).ok

    # The scanner's default header names are the dictionary's direct identifiers.
    path = tmp_path / "nb.ipynb"
    _notebook(path, [("x", _clean_outputs())])
    report = scan_notebook(path)
    assert report.identifier_columns == ID_COLUMNS
    assert report.ok
