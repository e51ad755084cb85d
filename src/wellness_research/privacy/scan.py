"""Scan rendered notebooks and HTML reports for identifiers before they are published.

Two kinds of finding:

* ``identifier_value``: a given identifier value (raw or pseudonymised) appears as a whole token in
  a cell's source, an output (every text MIME type, SVG included, stream text, error tracebacks) or
  an HTML file. Tokens are the maximal runs of ASCII letters, digits and the other characters that
  occur in the identifiers, so ``P0001`` is found in ``id=P0001;`` but not inside ``P00012``. All
  output text is tokenised once and looked up in a set, so 150,000 identifiers cost no more than a
  handful. Identifiers containing whitespace are searched as substrings. PNG/JPEG images cannot be
  scanned. Short or purely numeric raw ids (a 宛名番号 such as ``1001``) also match ordinary
  numbers in outputs; scan for the pseudonymised form where possible. In an ``.html`` file the
  code cells are scanned for values too; their ``<pre>`` blocks (class ``highlight`` /
  ``InputArea``) are skipped for column names.
* ``identifier_column``: an output shows a table with a column (or index) named after a
  direct-identifier column: a ``<th>`` in an HTML table, or in a ``text/plain`` output a pandas
  DataFrame/Series repr: a header line that starts with the index padding or is right-aligned
  with the next line, an index-name line, or a ``Name: person_id, dtype: ...`` footer. Lines of
  ``DataFrame.info()`` (``non-null``) and column lists (``Index(['person_id', ...])``) are not
  tables and are not reported. Markdown and code sources are not checked for column names.

Findings never print an identifier value in full: it is masked (``P0******``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import pandas as pd

from wellness_research.errors import ConfigurationError, PrivacyError

__all__ = ["Finding", "ScanReport", "scan_notebook", "scan_outputs"]

FindingKind = Literal["identifier_value", "identifier_column"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SERIES_NAME = re.compile(r"^Name: (.+?), (?:dtype|Length):")
_VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
_MAX_EXAMPLES = 3


def _mask(value: str) -> str:
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 2)


@dataclass(frozen=True)
class Finding:
    """One place where an identifier was found.

    Attributes
    ----------
    file : str
        Path of the notebook or HTML file.
    cell : int or None
        0-based cell position in the notebook; None for an HTML file.
    location : str
        ``"source"``, ``"output 2 (text/html)"`` or, in an HTML file, ``"line 120"``.
    kind : {"identifier_value", "identifier_column"}
        What was found.
    message : str
        Human-readable description; identifier values appear masked only.
    """

    file: str
    cell: int | None
    location: str
    kind: FindingKind
    message: str

    def __str__(self) -> str:
        where = f"cell {self.cell}, " if self.cell is not None else ""
        return f"{self.file}: {where}{self.location}: {self.message}"


@dataclass(frozen=True)
class ScanReport:
    """Result of :func:`scan_notebook` / :func:`scan_outputs`.

    Attributes
    ----------
    files : tuple[str, ...]
        Files scanned.
    findings : tuple[Finding, ...]
        Everything found (empty when clean).
    n_identifiers : int
        Number of distinct identifier values searched for.
    identifier_columns : tuple[str, ...]
        Column names treated as direct identifiers.
    """

    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    n_identifiers: int
    identifier_columns: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def raise_if_found(self) -> None:
        """Raise :class:`~wellness_research.errors.PrivacyError` listing the findings, if any."""
        if self.findings:
            raise PrivacyError(
                "Rule 'no identifiers in published outputs': "
                + f"{len(self.findings)} finding(s):\n"
                + "\n".join(f"  {f}" for f in self.findings)
            )

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: file, cell, location, kind, message."""
        return pd.DataFrame(
            [(f.file, f.cell, f.location, f.kind, f.message) for f in self.findings],
            columns=["file", "cell", "location", "kind", "message"],
        )

    def summary(self) -> str:
        """Plain-text summary: what was scanned and each finding."""
        head = (
            f"Identifier scan of {len(self.files)} file(s) for {self.n_identifiers:,} identifier "
            f"value(s) and column(s) {list(self.identifier_columns)}: "
        )
        if self.ok:
            return head + "no findings."
        return head + f"{len(self.findings)} finding(s)\n" + "\n".join(f"  {f}" for f in self.findings)

    def _repr_html_(self) -> str:
        verdict = "no findings" if self.ok else f"{len(self.findings)} finding(s)"
        head = (
            f"<p>Identifier scan of {len(self.files)} file(s), {self.n_identifiers:,} identifier "
            f"value(s): <b>{escape(verdict)}</b></p>"
        )
        return head + ("" if self.ok else self.to_frame().to_html(index=False))


class _TableParser(HTMLParser):
    """Collects <th> texts and the text of <pre> blocks that are not code (with line numbers)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.headers: list[tuple[str, int]] = []
        self.pre_blocks: list[tuple[str, int]] = []
        self._th: list[str] | None = None
        self._th_line = 0
        self._pre: list[str] | None = None
        self._pre_line = 0

    def _in_code(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            return
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        code = self._in_code() or any(
            word in classes for word in ("highlight", "InputArea", "input_area", "CodeMirror")
        )
        self.stack.append((tag, code))
        line = self.getpos()[0]
        if tag == "th":
            self._th, self._th_line = [], line
        elif tag == "pre" and not code:
            self._pre, self._pre_line = [], line

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._th is not None:
            self.headers.append(("".join(self._th).strip(), self._th_line))
            self._th = None
        elif tag == "pre" and self._pre is not None:
            self.pre_blocks.append(("".join(self._pre), self._pre_line))
            self._pre = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._th is not None:
            self._th.append(data)
        if self._pre is not None:
            self._pre.append(data)


def _token_ends(line: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for m in re.finditer(r"\S+", line):
        out.setdefault(m.group(), []).append(m.end())
    return out


def _text_table_columns(text: str, columns: frozenset[str]) -> set[str]:
    """Identifier column names shown as table headers in a pandas text repr."""
    found: set[str] = set()
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        m = _SERIES_NAME.match(line)
        if m and m.group(1) in columns:
            found.add(m.group(1))
        tokens = _token_ends(line)
        hits = columns.intersection(tokens)
        if not hits or "non-null" in line:
            continue
        if line.strip() in columns or line[0].isspace():
            found |= hits
            continue
        if i + 1 < len(lines):
            next_ends = {e for ends in _token_ends(lines[i + 1]).values() for e in ends}
            header_ends = {e for ends in tokens.values() for e in ends}
            if header_ends <= next_ends:
                found |= hits
    return found


class _Matcher:
    def __init__(self, identifiers: Iterable[object], identifier_columns: Iterable[str] | None) -> None:
        if isinstance(identifiers, str):
            raise ConfigurationError(
                "scan: identifiers must be an iterable of identifier values, got a single string; "
                "wrap it in a list."
            )
        ids: set[str] = set()
        for value in identifiers:
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                raise ConfigurationError("scan: identifiers contain a missing value (None/NA).")
            text = str(value)
            if not text.strip():
                raise ConfigurationError("scan: identifiers contain an empty string.")
            ids.add(text)
        self.spaced = sorted(v for v in ids if any(ch.isspace() for ch in v))
        self.ids = frozenset(ids.difference(self.spaced))
        extra = sorted({ch for v in self.ids for ch in v if not (ch.isascii() and ch.isalnum())})
        self.token = re.compile("[0-9A-Za-z" + "".join(re.escape(ch) for ch in extra) + "]+")
        if identifier_columns is None:
            identifier_columns = _dictionary_identifier_columns()
        if isinstance(identifier_columns, str):
            raise ConfigurationError(
                f"scan: identifier_columns must be a list of names, got the string {identifier_columns!r}."
            )
        self.columns = frozenset(identifier_columns)
        self.n_identifiers = len(ids)

    def values_in(self, text: str) -> list[str]:
        if not self.n_identifiers:
            return []
        text = _ANSI.sub("", text)
        found = set(self.ids.intersection(self.token.findall(text)))
        found.update(v for v in self.spaced if v in text)
        return sorted(found)

    def value_finding(self, found: list[str], *, file: str, cell: int | None, location: str) -> Finding:
        examples = ", ".join(repr(_mask(v)) for v in found[:_MAX_EXAMPLES])
        return Finding(
            file=file,
            cell=cell,
            location=location,
            kind="identifier_value",
            message=f"{len(found)} identifier value(s) found, e.g. {examples}",
        )

    def column_finding(
        self, names: Iterable[str], *, file: str, cell: int | None, location: str, where: str
    ) -> Finding:
        listed = ", ".join(repr(n) for n in sorted(names))
        return Finding(
            file=file,
            cell=cell,
            location=location,
            kind="identifier_column",
            message=f"direct-identifier column {listed} shown as a header in {where}",
        )


def _dictionary_identifier_columns() -> tuple[str, ...]:
    from wellness_research.data import load_dictionary  # deferred: only needed for the default

    names = {c for cols in load_dictionary().identifier_columns().values() for c in cols}
    return tuple(sorted(names))


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return json.dumps(value, ensure_ascii=False)


def _output_texts(output: dict) -> Iterator[tuple[str, str]]:
    """(mime type, text) pairs of one notebook output."""
    kind = output.get("output_type")
    if kind == "stream":
        yield "text/plain", _as_text(output.get("text", ""))
    elif kind in ("execute_result", "display_data", "update_display_data"):
        for mime, value in (output.get("data") or {}).items():
            if mime.startswith("image/") and mime != "image/svg+xml":
                continue
            yield mime, _as_text(value)
    elif kind == "error":
        parts = [str(output.get("ename", "")), str(output.get("evalue", ""))]
        parts += [str(t) for t in output.get("traceback", [])]
        yield "error", "\n".join(parts)


def _scan_notebook(path: Path, matcher: _Matcher) -> list[Finding]:
    file = str(path)
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"scan_notebook: cannot read {file!r} as a notebook: {exc}") from exc
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ConfigurationError(
            f"scan_notebook: {file!r} has no 'cells' list; is it an nbformat 4 notebook?"
        )
    findings: list[Finding] = []
    for index, cell in enumerate(cells):
        found = matcher.values_in(_as_text(cell.get("source", "")))
        if found:
            findings.append(matcher.value_finding(found, file=file, cell=index, location="source"))
        for k, output in enumerate(cell.get("outputs", []) or []):
            for mime, text in _output_texts(output):
                location = f"output {k} ({mime})"
                found = matcher.values_in(text)
                if found:
                    findings.append(matcher.value_finding(found, file=file, cell=index, location=location))
                if not matcher.columns:
                    continue
                if mime == "text/html":
                    parser = _TableParser()
                    parser.feed(text)
                    parser.close()
                    names = {h for h, _ in parser.headers if h in matcher.columns}
                    where = "an HTML table"
                elif mime == "text/plain":
                    names = _text_table_columns(text, matcher.columns)
                    where = "a text table (DataFrame/Series repr)"
                else:
                    names = set()
                if names:
                    findings.append(
                        matcher.column_finding(names, file=file, cell=index, location=location, where=where)
                    )
    return findings


def _scan_html(path: Path, matcher: _Matcher) -> list[Finding]:
    file = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"scan_outputs: cannot read {file!r} as UTF-8 HTML: {exc}") from exc
    findings: list[Finding] = []
    text = unescape(raw)
    found = matcher.values_in(text)
    if found:
        first = min(text.find(v) for v in found if v in text)
        line = text.count("\n", 0, max(first, 0)) + 1
        findings.append(matcher.value_finding(found, file=file, cell=None, location=f"line {line}"))
    if matcher.columns:
        parser = _TableParser()
        parser.feed(raw)
        parser.close()
        by_line: dict[int, set[str]] = {}
        for header, line in parser.headers:
            if header in matcher.columns:
                by_line.setdefault(line, set()).add(header)
        for line, names in sorted(by_line.items()):
            findings.append(
                matcher.column_finding(
                    names, file=file, cell=None, location=f"line {line}", where="an HTML table"
                )
            )
        for block, line in parser.pre_blocks:
            names = _text_table_columns(block, matcher.columns)
            if names:
                findings.append(
                    matcher.column_finding(
                        names,
                        file=file,
                        cell=None,
                        location=f"line {line}",
                        where="a text table (DataFrame/Series repr)",
                    )
                )
    return findings


def scan_notebook(
    path: str | os.PathLike[str],
    *,
    identifiers: Iterable[str] = (),
    identifier_columns: Iterable[str] | None = None,
) -> ScanReport:
    """Scan one notebook's sources and outputs for identifier values and identifier columns.

    Parameters
    ----------
    path : path-like
        An ``.ipynb`` file (nbformat 4).
    identifiers : iterable of str, default ()
        Identifier values to look for: raw ids, pseudonyms, or both. Integers are matched as text.
    identifier_columns : iterable of str, optional
        Column names that must not appear as table headers in outputs. Default: the
        ``direct_identifier`` columns of the data dictionary (``certification_id``,
        ``contact_id``, ``episode_id``, ``person_id``).

    Returns
    -------
    ScanReport
        ``.ok`` is False when something was found; ``raise_if_found()`` raises.

    Raises
    ------
    ConfigurationError
        If the file cannot be read as a notebook or an argument is invalid.

    Examples
    --------
    >>> report = scan_notebook("research/demo/01_linkage.ipynb", identifiers=ids)  # doctest: +SKIP
    >>> report.raise_if_found()  # doctest: +SKIP
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"scan_notebook: {str(file)!r} does not exist or is not a file.")
    matcher = _Matcher(identifiers, identifier_columns)
    findings = _scan_notebook(file, matcher)
    return ScanReport(
        files=(str(file),),
        findings=tuple(findings),
        n_identifiers=matcher.n_identifiers,
        identifier_columns=tuple(sorted(matcher.columns)),
    )


def scan_outputs(
    directory: str | os.PathLike[str],
    *,
    identifiers: Iterable[str] = (),
    identifier_columns: Iterable[str] | None = None,
    recursive: bool = True,
) -> ScanReport:
    """Scan every ``.ipynb`` and ``.html`` file in a folder (see :func:`scan_notebook`).

    Parameters
    ----------
    directory : path-like
        Folder of rendered outputs, e.g. ``research/FY2025``.
    identifiers : iterable of str, default ()
        Identifier values to look for (raw and/or pseudonymised).
    identifier_columns : iterable of str, optional
        Direct-identifier column names; default from the data dictionary.
    recursive : bool, default True
        Include sub-folders (hidden ones such as ``.ipynb_checkpoints`` too: they get published
        when a folder is copied).

    Returns
    -------
    ScanReport
        All findings over all files, files in sorted order.

    Raises
    ------
    ConfigurationError
        If the folder does not exist or holds no ``.ipynb`` or ``.html`` file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ConfigurationError(f"scan_outputs: {str(root)!r} does not exist or is not a folder.")
    if not isinstance(recursive, bool):
        raise ConfigurationError(f"scan_outputs: recursive must be True or False, got {recursive!r}.")
    pattern = "**/*" if recursive else "*"
    files = sorted(
        p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in (".ipynb", ".html", ".htm")
    )
    if not files:
        raise ConfigurationError(
            f"scan_outputs: no .ipynb or .html file under {str(root)!r}; is this the output folder?"
        )
    matcher = _Matcher(identifiers, identifier_columns)
    findings: list[Finding] = []
    for file in files:
        if file.suffix.lower() == ".ipynb":
            findings.extend(_scan_notebook(file, matcher))
        else:
            findings.extend(_scan_html(file, matcher))
    return ScanReport(
        files=tuple(str(p) for p in files),
        findings=tuple(findings),
        n_identifiers=matcher.n_identifiers,
        identifier_columns=tuple(sorted(matcher.columns)),
    )
