"""Render the data dictionary as a readable page (Markdown or HTML); backs ``wellness-research dictionary``."""

from __future__ import annotations

import html
from typing import Literal, get_args

import pandas as pd

from wellness_research import __version__
from wellness_research.data.dictionary import ColumnSpec, DataDictionary, TableSpec, load_dictionary
from wellness_research.errors import ConfigurationError

__all__ = ["RENDER_FORMATS", "RenderFormat", "render_dictionary"]

RenderFormat = Literal["markdown", "html"]
RENDER_FORMATS: tuple[str, ...] = get_args(RenderFormat)

_PRIVACY_NOTE = (
    "Privacy classes: direct_identifier (singles out a person or record; never published), "
    "quasi_identifier (re-identifies in combination), sensitive (health, care need, claims, death), "
    "none."
)
_HEADER = ("column", "日本語", "type", "unit", "codes / range", "nullable", "privacy class", "description")


def render_dictionary(
    *,
    format: RenderFormat = "markdown",  # noqa: A002 - the natural name for the option
    dictionary: DataDictionary | None = None,
) -> str:
    """Render the data dictionary: one section per table, with its keys, rules and columns.

    Parameters
    ----------
    format : {"markdown", "html"}, default "markdown"
        Markdown text, or a complete UTF-8 HTML page.
    dictionary : DataDictionary, optional
        Defaults to the packaged dictionary.

    Returns
    -------
    str
        The page. Each column row shows name, 日本語, type, unit, codes or range, nullable, privacy
        class and description.

    Raises
    ------
    ConfigurationError
        If ``format`` is not one of ``"markdown"``, ``"html"``.

    Examples
    --------
    >>> from wellness_research.data import render_dictionary
    >>> page = render_dictionary(format="markdown")
    >>> page.splitlines()[0]
    '# Data dictionary'
    """
    if format not in RENDER_FORMATS:
        raise ConfigurationError(f"format={format!r} is not valid; expected one of {', '.join(RENDER_FORMATS)}")
    dd = load_dictionary() if dictionary is None else dictionary
    return _markdown(dd) if format == "markdown" else _html(dd)


def _fmt_bound(b: object) -> str:
    if b is None:
        return ""
    if isinstance(b, pd.Timestamp):
        return b.strftime("%Y-%m-%d")
    return f"{b:,}" if isinstance(b, int) else str(b)


def _codes_or_range(col: ColumnSpec) -> str:
    if col.codes is not None:
        return "; ".join(f"{k}: {v}" if k != v else k for k, v in col.codes.items())
    if col.range is not None:
        lo, hi = col.range
        return f"[{_fmt_bound(lo)}, {_fmt_bound(hi)}]"
    return ""


def _cells(col: ColumnSpec) -> tuple[str, ...]:
    return (
        col.name,
        col.label_ja,
        col.type,
        col.unit or "",
        _codes_or_range(col),
        "yes" if col.nullable else "no",
        col.privacy_class,
        col.description,
    )


def _rules(spec: TableSpec) -> list[tuple[str, str]]:
    items = [
        ("Source system", spec.source_system),
        ("Grain", spec.grain),
        ("Primary key", ", ".join(spec.primary_key)),
    ]
    if spec.foreign_keys:
        fks = [
            f"{', '.join(fk.columns)} → {fk.ref_table}.{', '.join(fk.ref_columns)}" for fk in spec.foreign_keys
        ]
        items.append(("Foreign keys", "; ".join(fks)))
    if spec.date_order:
        items.append(("Date order", "; ".join(f"{a} ≤ {b}" for a, b in spec.date_order)))
    if spec.life_events:
        items.append(("Life events (not before birth month, not after death)", ", ".join(spec.life_events)))
    if spec.no_overlap:
        items.append(
            ("No overlap", "; ".join(f"[{o.start}, {o.end}] within {', '.join(o.group)}" for o in spec.no_overlap))
        )
    for chk in spec.checks:
        items.append((f"Check {chk.rule} ({chk.severity})", f"{', '.join(chk.columns)}: {chk.description}"))
    return items


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(dd: DataDictionary) -> str:
    lines = [
        "# Data dictionary",
        "",
        f"{len(dd)} tables; wellness_research {__version__}. {_PRIVACY_NOTE}",
        "",
        "| table | 日本語 | grain | rows are keyed by |",
        "|---|---|---|---|",
    ]
    for spec in dd:
        lines.append(f"| [{spec.name}](#{spec.name}) | {spec.label_ja} | {spec.grain} | {', '.join(spec.primary_key)} |")
    for spec in dd:
        lines += ["", f"## {spec.name}", "", f"**{spec.label_ja}**. {_md_escape(spec.description)}", ""]
        lines += [f"- {k}: {_md_escape(v)}" for k, v in _rules(spec)]
        lines += ["", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        for col in spec.columns:
            cells = list(_cells(col))
            cells[0] = f"`{cells[0]}`"
            lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _html(dd: DataDictionary) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ja"><head><meta charset="utf-8"><title>Data dictionary</title>',
        "<style>body{font-family:sans-serif;max-width:75em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .4em;vertical-align:top}"
        "th{background:#f3f3f3}code{white-space:nowrap}</style></head><body>",
        "<h1>Data dictionary</h1>",
        f"<p>{len(dd)} tables; wellness_research {e(__version__)}. {e(_PRIVACY_NOTE)}</p>",
        "<table><thead><tr><th>table</th><th>日本語</th><th>grain</th><th>rows are keyed by</th></tr></thead><tbody>",
    ]
    for spec in dd:
        parts.append(
            f'<tr><td><a href="#{e(spec.name)}">{e(spec.name)}</a></td><td>{e(spec.label_ja)}</td>'
            f"<td>{e(spec.grain)}</td><td>{e(', '.join(spec.primary_key))}</td></tr>"
        )
    parts.append("</tbody></table>")
    for spec in dd:
        parts.append(f'<section id="{e(spec.name)}"><h2>{e(spec.name)} — {e(spec.label_ja)}</h2>')
        parts.append(f"<p>{e(spec.description)}</p><ul>")
        parts += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in _rules(spec)]
        parts.append("</ul><table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in _HEADER) + "</tr></thead><tbody>")
        for col in spec.columns:
            cells = _cells(col)
            parts.append(
                "<tr><td><code>" + e(cells[0]) + "</code></td>" + "".join(f"<td>{e(c)}</td>" for c in cells[1:]) + "</tr>"
            )
        parts.append("</tbody></table></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
