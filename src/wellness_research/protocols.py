"""Evaluation protocols: load a protocol's parameter file, validate it, check it against its prose.

A protocol is a statistical analysis plan in two files under ``protocols/``: the prose
(``<name>.md``) a reviewer reads and the parameters (``<name>.yaml``) the notebooks read. This
module loads the YAML into a read-only :class:`Protocol`, validates it against the JSON Schema
(draft 2020-12, checked with ``jsonschema``) chosen by the file's ``protocol`` key —
``protocols/schema/<protocol>.schema.yaml`` when it exists (e.g. ``short_term.schema.yaml``), else
``protocols/schema/protocol.schema.yaml`` (the SOFT protocol's) — and against the rules that relate
two keys (:func:`protocol_errors`; SOFT's rules, or the short-term service's for ``protocol:
short_term``), and checks that the prose states the same values (:func:`prose_mismatches`).

Every error names the file, the key (dotted path, list items as ``[i]``), the value and the rule,
and all errors are reported at once.

How the prose carries values
----------------------------
The ``.md`` holds (a) a table between ``<!-- protocol-parameters:begin -->`` and
``<!-- protocol-parameters:end -->`` whose rows are ``| `dotted.key` | value | meaning |``, and
(b) inline values written as ``**value**<!-- dotted.key -->`` inside sentences (the comment is
invisible when rendered). Each value is parsed as YAML and must equal the parameter file's value.

References
----------
Gamble C, Krishan A, Stocken D, et al. (2017). Guidelines for the content of statistical analysis
plans in clinical trials. JAMA 318(23):2337-2343.
JSON Schema draft 2020-12, https://json-schema.org/draft/2020-12/json-schema-core.

Examples
--------
>>> p = load_protocol("soft")
>>> p.get("exposure.min_sessions") >= 1, p.name
(True, 'soft_joint_research')
>>> protocol_errors({**p.to_dict(), "exposure": {**p.to_dict()["exposure"], "min_sessions": 0}})[0]
"key 'exposure.min_sessions' = 0 breaks rule 'minimum': 0 is less than the minimum of 1"
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import html
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ._mapping import ReadOnlyMapping
from .errors import ConfigurationError

__all__ = [
    "Protocol",
    "load_protocol",
    "protocol_dir",
    "protocol_errors",
    "prose_mismatches",
    "prose_values",
    "validate_protocol",
]

_SCHEMA_FILE = Path("schema") / "protocol.schema.yaml"
_TABLE_BEGIN = "<!-- protocol-parameters:begin -->"
_TABLE_END = "<!-- protocol-parameters:end -->"
_INLINE = re.compile(r"\*\*(?P<value>[^*\n]+?)\*\*<!--\s*(?P<key>[A-Za-z0-9_.\[\]]+)\s*-->")
_ROW = re.compile(r"^\|\s*`(?P<key>[A-Za-z0-9_.\[\]]+)`\s*\|\s*(?P<value>[^|]*?)\s*\|")
_CODE_SPAN = re.compile(r"`[^`]*`")  # inline code shows the marker syntax; it is not a marker
_KEY_PART = re.compile(r"([A-Za-z0-9_]+)|\[(\d+)\]")


# --- locating files ------------------------------------------------------------------------------


def protocol_dir() -> Path:
    """The folder holding the protocol files.

    The package folder ``protocol_files`` when the installed package ships one (a link to the
    top-level ``protocols/``, like ``notebooks``), else ``protocols/`` of the source checkout the
    package is installed from (editable install).

    Raises
    ------
    ConfigurationError
        If neither folder exists.

    Examples
    --------
    >>> (protocol_dir() / "soft_joint_research.yaml").is_file()
    True
    """
    candidates = [Path(str(files("wellness_research") / "protocol_files")),
                  Path(__file__).resolve().parents[2] / "protocols"]
    for folder in candidates:
        if (folder / _SCHEMA_FILE).is_file():
            return folder
    raise ConfigurationError(
        "No protocol folder found: looked for schema/protocol.schema.yaml under "
        + ", ".join(repr(str(c)) for c in candidates) + "; pass a path to load_protocol instead."
    )


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigurationError(f"load_protocol: protocol file {str(path)!r} does not exist.")
        return path
    name = str(name_or_path)
    folder = protocol_dir()
    direct = folder / f"{name}.yaml"
    if direct.is_file():
        return direct
    known = {}
    for candidate in sorted(folder.glob("*.yaml")):
        head = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        if isinstance(head, Mapping) and isinstance(head.get("protocol"), str):
            known[head["protocol"]] = candidate
    if name in known:
        return known[name]
    valid = sorted(set(known) | {p.stem for p in known.values()})
    raise ConfigurationError(
        f"load_protocol: unknown protocol {name!r} in {str(folder)!r}; valid: {valid} or a path to a .yaml file."
    )


def _schema_path(folder: Path, data: Any = None) -> Path:
    """``schema/<protocol>.schema.yaml`` when the data names a protocol that has one, else the default."""
    key = data.get("protocol") if isinstance(data, Mapping) else None
    if isinstance(key, str) and re.fullmatch(r"[a-z][a-z0-9_]*", key):
        own = folder / "schema" / f"{key}.schema.yaml"
        if own.is_file():
            return own
    return folder / _SCHEMA_FILE


def _load_schema(folder: Path, data: Any = None) -> dict[str, Any]:
    path = _schema_path(folder, data)
    if not path.is_file():
        raise ConfigurationError(f"Protocol schema {str(path)!r} not found (it must sit beside the protocol files).")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- validation ----------------------------------------------------------------------------------


def _key(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _schema_errors(data: Any, schema: Mapping[str, Any]) -> list[str]:
    import jsonschema  # pinned in requirements.lock (via nbformat)

    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator)):
        path = list(err.absolute_path)
        rule = err.validator
        if rule == "required":
            missing = [k for k in err.validator_value if not (isinstance(err.instance, Mapping) and k in err.instance)]
            for k in missing:
                messages.append(f"key {_key([*path, k])!r} is missing (rule 'required')")
            continue
        if rule == "additionalProperties" and isinstance(err.instance, Mapping):
            allowed = sorted(err.schema.get("properties", {}))
            for k in sorted(set(err.instance) - set(allowed), key=str):
                messages.append(f"key {_key([*path, k])!r} is not allowed (rule 'additionalProperties'; allowed keys: {allowed})")
            continue
        detail = err.message
        if rule == "oneOf" and err.context:
            detail = f"{err.instance!r} matches none of: " + "; ".join(sorted({c.message for c in err.context}))
        messages.append(f"key {_key(path)!r} = {err.instance!r} breaks rule {rule!r}: {detail}")
    return list(dict.fromkeys(messages))  # one "required" error per missing key repeats the whole list


def _month_number(value: str) -> int:
    year, month = value.split("-")
    return int(year) * 12 + int(month) - 1


def _adder(errs: list[str]) -> Any:
    def add(key: str, value: Any, rule: str, detail: str) -> None:
        errs.append(f"key {key!r} = {value!r} breaks rule {rule!r}: {detail}")

    return add


def _cross_field_errors(d: Mapping[str, Any]) -> list[str]:
    """Rules that relate two or more keys (run only when the schema passes), by protocol."""
    if d.get("protocol") == "short_term":
        return _short_term_errors(d) + _common_errors(d)
    return _soft_errors(d) + _common_errors(d)


def _common_errors(d: Mapping[str, Any]) -> list[str]:
    """Rules every protocol shares: registration, prose name, findings, seeds."""
    errs: list[str] = []
    add = _adder(errs)
    if d["status"] in ("registered", "amended") and d["registered"] is None:
        add("registered", None, "registered plans carry their date", f"status {d['status']!r} needs a registration date")
    if d["status"] == "amended" and not d["amendments"]:
        add("amendments", [], "amended plans list their amendments", "status 'amended' needs at least one amendment")
    if d["prose"] != f"{d['name']}.md":
        add("prose", d["prose"], "prose named after the protocol", f"must be {d['name']}.md")
    finding_names = [f["name"] for f in d["findings"]]
    if len(set(finding_names)) != len(finding_names):
        add("findings", finding_names, "finding names unique", "each name may appear once")
    primaries = [f["name"] for f in d["findings"] if f["primary"]]
    if len(primaries) != 1:
        add("findings", primaries, "exactly one primary finding", "exactly one finding must have primary: true")
    if len(set(d["seeds"].values())) != len(d["seeds"]):
        add("seeds", dict(d["seeds"]), "seeds distinct", "use a different seed for each random step")
    return errs


def _soft_errors(d: Mapping[str, Any]) -> list[str]:
    """The SOFT protocol's cross-field rules."""
    errs: list[str] = []
    add = _adder(errs)

    cal = d["calendar"]
    if cal["fiscal_year_first"] > cal["fiscal_year_last"]:
        add("calendar.fiscal_year_first", cal["fiscal_year_first"], "fiscal years ordered",
            f"must not exceed calendar.fiscal_year_last = {cal['fiscal_year_last']}")
    if _month_number(cal["data_start"]) + cal["baseline_months"] > _month_number(cal["enrolment_start"]):
        add("calendar.enrolment_start", cal["enrolment_start"], "baseline inside the data",
            f"the first index month needs calendar.baseline_months = {cal['baseline_months']} months of data "
            f"after calendar.data_start = {cal['data_start']!r}")

    exp = d["exposure"]
    groups = exp["dose_groups"]
    names = [g["name"] for g in groups]
    if len(set(names)) != len(names):
        add("exposure.dose_groups", names, "dose group names unique", "each name may appear once")
    if groups[0]["min_sessions"] != exp["min_sessions"]:
        add("exposure.dose_groups[0].min_sessions", groups[0]["min_sessions"], "dose groups start at min_sessions",
            f"the first dose group must start at exposure.min_sessions = {exp['min_sessions']}")
    for i, g in enumerate(groups):
        hi = g["max_sessions"]
        if hi is not None and hi < g["min_sessions"]:
            add(f"exposure.dose_groups[{i}].max_sessions", hi, "dose group bounds ordered",
                f"must be >= its min_sessions = {g['min_sessions']}")
        if hi is None and i != len(groups) - 1:
            add(f"exposure.dose_groups[{i}].max_sessions", hi, "only the last dose group is open",
                "only the last group may have max_sessions: null")
        if i > 0 and groups[i - 1]["max_sessions"] is not None and g["min_sessions"] != groups[i - 1]["max_sessions"] + 1:
            add(f"exposure.dose_groups[{i}].min_sessions", g["min_sessions"], "dose groups contiguous",
                f"must be the previous group's max_sessions + 1 = {groups[i - 1]['max_sessions'] + 1}")
    if groups[-1]["max_sessions"] is not None:
        add(f"exposure.dose_groups[{len(groups) - 1}].max_sessions", groups[-1]["max_sessions"],
            "last dose group open", "the last group must have max_sessions: null so that every participant has a group")

    pop, match, cov = d["population"], d["matching"], d["covariates"]
    edges = match["age_band_edges"]
    if list(edges) != sorted(edges) or edges[0] != pop["min_age"]:
        add("matching.age_band_edges", edges, "age bands start at min_age",
            f"must be increasing and start at population.min_age = {pop['min_age']}")
    known = set(cov["propensity"]) | {"index_month", "age_band"}
    for i, var in enumerate(match["exact"]):
        if var not in known:
            add(f"matching.exact[{i}]", var, "exact variables are known",
                "must be index_month, age_band or one of covariates.propensity")
    if "index_month" not in match["exact"]:
        add("matching.exact", match["exact"], "risk-set matching within the calendar month",
            "must contain index_month (controls are matched among those eligible in the participant's month)")
    for group, indicator in (("kcl", "kcl_missing"), ("checkup", "checkup_missing")):
        if group in cov["missing_indicator_for"] and indicator not in cov["propensity"]:
            add("covariates.propensity", cov["propensity"], "missing indicators are covariates",
                f"covariates.missing_indicator_for has {group!r}, so {indicator!r} must be listed")
    lo, hi = match["balance_variance_ratio"]
    if not lo < 1 < hi:
        add("matching.balance_variance_ratio", [lo, hi], "variance-ratio band contains 1", "must be [low < 1, high > 1]")

    out, an, sens = d["outcomes"], d["analyses"], d["sensitivity"]
    codes = out["event_codes"]
    if codes["certification"] == codes["death"]:
        add("outcomes.event_codes.death", codes["death"], "event codes distinct",
            f"must differ from outcomes.event_codes.certification = {codes['certification']}")
    care2 = set(out["care2plus"]["levels"])
    if not care2 <= set(out["primary"]["levels"]):
        add("outcomes.care2plus.levels", out["care2plus"]["levels"], "care2plus within the primary levels",
            "every level must also be a level of outcomes.primary.levels")
    if an["cumulative_incidence"]["horizon_months"] > out["follow_up_months"]:
        add("analyses.cumulative_incidence.horizon_months", an["cumulative_incidence"]["horizon_months"],
            "horizon within follow-up", f"must not exceed outcomes.follow_up_months = {out['follow_up_months']}")

    windows = {
        "outcomes.costs.window": out["costs"]["window"],
        "outcomes.frailty.followup_window_months": out["frailty"]["followup_window_months"],
        "analyses.did_matched.window": an["did_matched"]["window"],
        "analyses.staggered.event_window": an["staggered"]["event_window"],
        **{f"sensitivity.negative_controls[{i}].window": nc["window"] for i, nc in enumerate(sens["negative_controls"])},
    }
    for key, (first, last) in windows.items():
        if first > last:
            add(key, [first, last], "window ordered", "must be [first, last] with first <= last")
    for key in ("analyses.did_matched.window", "analyses.staggered.event_window", "outcomes.costs.window"):
        first, last = windows[key]
        if not first < 0 <= last:
            add(key, [first, last], "window has pre and post periods", "must start before 0 and end at 0 or later")
    ref = an["did_matched"]["reference_period"]
    if not an["did_matched"]["window"][0] <= ref:
        add("analyses.did_matched.reference_period", ref, "reference period inside the window",
            f"must lie in analyses.did_matched.window = {an['did_matched']['window']}")
    if out["frailty"]["followup_window_months"][0] < 0:
        add("outcomes.frailty.followup_window_months", out["frailty"]["followup_window_months"],
            "frailty measured after index", "must start at 0 or later")
    for i, nc in enumerate(sens["negative_controls"]):
        first, last = nc["window"]
        if nc["kind"] == "pre_index" and last >= 0:
            add(f"sensitivity.negative_controls[{i}].window", nc["window"], "pre-index window before index",
                "a pre_index negative control must end before month 0")
        if nc["kind"] == "post_index" and first < 0:
            add(f"sensitivity.negative_controls[{i}].window", nc["window"], "post-index window after time zero",
                "a post_index negative control must start at month 0 or later")
    if len({nc["name"] for nc in sens["negative_controls"]}) != len(sens["negative_controls"]):
        add("sensitivity.negative_controls", [nc["name"] for nc in sens["negative_controls"]], "names unique",
            "each negative control name may appear once")

    caliper = match["caliper"]
    if caliper is not None and caliper in sens["caliper_variants"]:
        add("sensitivity.caliper_variants", sens["caliper_variants"], "variants differ from the primary caliper",
            f"must not contain matching.caliper = {caliper}")
    if d["index"]["time_zero"] == "landmark" and sens["exclude_early_months"] <= exp["window_months"]:
        add("sensitivity.exclude_early_months", sens["exclude_early_months"], "exclusion longer than the landmark",
            f"must exceed exposure.window_months = {exp['window_months']} (follow-up already starts there)")
    if sens["itt"]["min_sessions"] > exp["min_sessions"]:
        add("sensitivity.itt.min_sessions", sens["itt"]["min_sessions"], "ITT is the wider definition",
            f"must not exceed exposure.min_sessions = {exp['min_sessions']}")
    m_bar = an["honest_did"]["m_bar"]
    if list(m_bar) != sorted(m_bar):
        add("analyses.honest_did.m_bar", m_bar, "M-bar grid increasing", "list the values in increasing order")
    ms = an["microsim"]
    if ms["effect_duration_years"] > ms["horizon_years"]:
        add("analyses.microsim.effect_duration_years", ms["effect_duration_years"], "duration within the horizon",
            f"must not exceed analyses.microsim.horizon_years = {ms['horizon_years']}")
    return errs


def _short_term_errors(d: Mapping[str, Any]) -> list[str]:
    """The short-term service protocol's cross-field rules (``protocol: short_term``)."""
    errs: list[str] = []
    add = _adder(errs)
    cal = d["calendar"]
    if cal["fiscal_year_first"] > cal["fiscal_year_last"]:
        add("calendar.fiscal_year_first", cal["fiscal_year_first"], "fiscal years ordered",
            f"must not exceed calendar.fiscal_year_last = {cal['fiscal_year_last']}")
    cas = d["cascade"]
    for i, g in enumerate(cas["graduation"]):
        if g not in cas["destinations"]:
            add(f"cascade.graduation[{i}]", g, "graduation is a destination", "must be one of cascade.destinations")

    rm = d["risk_model"]
    train, test = pd.Timestamp(rm["train_at"]), pd.Timestamp(rm["test_at"])
    if train + pd.DateOffset(months=int(rm["horizon_months"])) > test:
        add("risk_model.test_at", rm["test_at"], "temporal validation on later years",
            f"must be at least risk_model.horizon_months = {rm['horizon_months']} months after "
            f"risk_model.train_at = {rm['train_at']!r} (the training outcomes must be observed before the test date)")
    lo, hi = rm["decision_threshold_range"]
    if not lo < hi:
        add("risk_model.decision_threshold_range", [lo, hi], "threshold range ordered", "must be [low < high]")

    comps = d["comparisons"]
    names = [c["name"] for c in comps]
    if len(set(names)) != len(names):
        add("comparisons", names, "comparison names unique", "each comparison may appear once")
    primary = [c["name"] for c in comps if c["role"] == "primary"]
    if len(primary) != 1:
        add("comparisons", primary, "exactly one primary comparison", "exactly one comparison must have role: primary")
    for i, c in enumerate(comps):
        want = "risk_set" if c["name"] == "never_reached" else "sampled_delay"
        if c["landmark"] != want:
            add(f"comparisons[{i}].landmark", c["landmark"], "landmark fits the comparison",
                f"comparison {c['name']!r} takes its index by {want!r}")
    secondary = d["sensitivity"]["comparison_secondary"]
    if secondary not in [c["name"] for c in comps if c["role"] == "secondary"]:
        add("sensitivity.comparison_secondary", secondary, "secondary comparison is listed",
            "must be a comparison with role: secondary")

    cov, match = d["covariates"], d["matching"]
    for i, var in enumerate(match["exact"]):
        if var not in cov["matching"]:
            add(f"matching.exact[{i}]", var, "exact variables are covariates", "must be one of covariates.matching")
    for group, indicator in (("kcl", "kcl_missing"), ("risk_score", "risk_score")):
        if group in cov["missing_indicator_for"] and indicator not in cov["matching"]:
            add("covariates.matching", cov["matching"], "missing indicators are covariates",
                f"covariates.missing_indicator_for has {group!r}, so {indicator!r} must be listed")
    vlo, vhi = match["balance_variance_ratio"]
    if not vlo < 1 < vhi:
        add("matching.balance_variance_ratio", [vlo, vhi], "variance-ratio band contains 1", "must be [low < 1, high > 1]")
    caliper = match["caliper"]
    if caliper is not None and caliper in d["sensitivity"]["caliper_variants"]:
        add("sensitivity.caliper_variants", d["sensitivity"]["caliper_variants"],
            "variants differ from the primary caliper", f"must not contain matching.caliper = {caliper}")

    out, an = d["outcomes"], d["analyses"]
    if out["short_horizon_months"] >= out["follow_up_months"]:
        add("outcomes.short_horizon_months", out["short_horizon_months"], "short horizon within follow-up",
            f"must be less than outcomes.follow_up_months = {out['follow_up_months']}")
    if not set(out["care2plus"]["levels"]) <= set(out["primary"]["levels"]):
        add("outcomes.care2plus.levels", out["care2plus"]["levels"], "care2plus within the primary levels",
            "every level must also be a level of outcomes.primary.levels")
    for key, (first, last) in (("outcomes.costs.window", out["costs"]["window"]),
                               ("analyses.did_matched.window", an["did_matched"]["window"])):
        if not first < 0 <= last:
            add(key, [first, last], "window has pre and post periods", "must start before 0 and end at 0 or later")
    ref = an["did_matched"]["reference_period"]
    if not an["did_matched"]["window"][0] <= ref:
        add("analyses.did_matched.reference_period", ref, "reference period inside the window",
            f"must lie in analyses.did_matched.window = {an['did_matched']['window']}")
    for i, nc in enumerate(d["sensitivity"]["negative_controls"]):
        first, last = nc["window"]
        if not first <= last < 0:
            add(f"sensitivity.negative_controls[{i}].window", nc["window"], "pre-index window before index",
                "must be [first <= last] and end before month 0")
    ms = an["microsim"]
    if ms["effect_duration_years"] > ms["horizon_years"]:
        add("analyses.microsim.effect_duration_years", ms["effect_duration_years"], "duration within the horizon",
            f"must not exceed analyses.microsim.horizon_years = {ms['horizon_years']}")
    for name, par in d["episode_cost"].items():
        low, high = par["range"]
        if not low <= par["value"] <= high:
            add(f"episode_cost.{name}.range", [low, high], "range contains the value",
                f"must satisfy low <= value = {par['value']} <= high")
    return errs


def protocol_errors(data: Any, *, schema: Mapping[str, Any] | None = None) -> list[str]:
    """Every violation of the protocol schema and of the cross-field rules, as messages.

    Parameters
    ----------
    data : mapping
        A parsed protocol file.
    schema : mapping, optional
        The JSON Schema; default ``protocols/schema/<protocol>.schema.yaml`` for the data's
        ``protocol`` key when that file exists, else ``protocols/schema/protocol.schema.yaml``.

    Returns
    -------
    list of str
        One message per violation, each naming the key, the value and the rule; empty when valid.
        Cross-field rules are checked only once the schema passes.

    Examples
    --------
    >>> bad = load_protocol("soft").to_dict()
    >>> bad["matching"]["caliper"] = 0.1
    >>> protocol_errors(bad)
    ["key 'sensitivity.caliper_variants' = [0.05, 0.1, 0.5] breaks rule 'variants differ from the primary caliper': must not contain matching.caliper = 0.1"]
    """
    schema = _load_schema(protocol_dir(), data) if schema is None else schema
    errors = _schema_errors(data, schema)
    if errors:
        return errors
    return _cross_field_errors(data)


def validate_protocol(data: Any, *, source: str = "<protocol>", schema: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`~wellness_research.errors.ConfigurationError` listing every violation.

    Examples
    --------
    >>> validate_protocol({"schema_version": 1}, source="x.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wellness_research.errors.ConfigurationError: x.yaml: 20 problem(s) in the protocol parameters:
      - key 'protocol' is missing (rule 'required')
    ...
    """
    errors = protocol_errors(data, schema=schema)
    if errors:
        raise ConfigurationError(
            f"{source}: {len(errors)} problem(s) in the protocol parameters:\n" + "\n".join(f"  - {e}" for e in errors)
        )


# --- the loaded protocol -------------------------------------------------------------------------


class _Frozen(ReadOnlyMapping):
    """Read-only, picklable nested mapping (lists become tuples)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__({k: _freeze(v) for k, v in data.items()})

    def __repr__(self) -> str:
        return f"{dict(self._data)!r}"


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Frozen(value)
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, _thaw(value)


@dataclass(frozen=True)
class Protocol:
    """A validated evaluation protocol (read-only).

    Attributes
    ----------
    name : str
        File name stem, e.g. ``soft_joint_research``.
    protocol : str
        Key of :data:`wellness_research.pipeline.PROTOCOLS`, e.g. ``soft``.
    path : pathlib.Path
        The parameter file.
    sha256 : str
        Hash of the file's bytes, for the provenance manifest.
    parameters : Mapping
        The whole file, read-only (nested mappings; lists as tuples). Use :meth:`get` for one value
        and :meth:`to_dict` for a mutable copy.

    Examples
    --------
    >>> p = load_protocol("soft")
    >>> p.get("analyses.microsim.horizon_years"), p["seeds"]["psa"] > 0
    (10, True)
    >>> p.table().columns.tolist()
    ['key', 'value']
    """

    name: str
    protocol: str
    path: Path
    sha256: str
    parameters: Mapping[str, Any] = field(repr=False)

    def __getitem__(self, section: str) -> Any:
        try:
            return self.parameters[section]
        except KeyError:
            raise ConfigurationError(
                f"Protocol {self.name!r} has no section {section!r}; sections: {sorted(self.parameters)}."
            ) from None

    def get(self, key: str) -> Any:
        """One parameter by dotted key (``"exposure.min_sessions"``, ``"exposure.dose_groups[0].name"``).

        Lists come back as lists and mappings as dicts (copies; the protocol cannot be changed).

        Raises
        ------
        ConfigurationError
            If the key does not exist (the message names the part that is missing).
        """
        node: Any = self.parameters
        walked = ""
        for part in key.split("."):
            for name, index in _KEY_PART.findall(part):
                if name:
                    if not isinstance(node, Mapping) or name not in node:
                        options = sorted(node) if isinstance(node, Mapping) else []
                        raise ConfigurationError(
                            f"Protocol {self.name!r}: key {key!r} not found ({name!r} missing after "
                            f"{walked or '<top level>'!r}; there: {options})."
                        )
                    node = node[name]
                    walked = f"{walked}.{name}" if walked else name
                else:
                    i = int(index)
                    if not isinstance(node, tuple) or i >= len(node):
                        raise ConfigurationError(f"Protocol {self.name!r}: key {key!r} not found (no item [{i}] in {walked!r}).")
                    node = node[i]
                    walked = f"{walked}[{i}]"
        return _thaw(node)

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the parameters (plain dicts and lists)."""
        return copy.deepcopy(_thaw(self.parameters))

    def table(self) -> pd.DataFrame:
        """Every leaf parameter as a row: ``key`` (dotted) and ``value``."""
        return pd.DataFrame(list(_flatten(self.parameters)), columns=["key", "value"])

    @property
    def prose_path(self) -> Path:
        """The prose (statistical analysis plan) beside the parameter file."""
        return self.path.parent / self.parameters["prose"]

    def check_prose(self) -> None:
        """Raise :class:`~wellness_research.errors.ConfigurationError` if the prose disagrees with the parameters."""
        problems = prose_mismatches(self)
        if problems:
            raise ConfigurationError(
                f"{self.prose_path.name} and {self.path.name} disagree ({len(problems)}):\n"
                + "\n".join(f"  - {p}" for p in problems)
            )

    def summary(self) -> str:
        """Plain-text header and the key parameters."""
        p = self.parameters
        lines = [
            f"Protocol {self.name} ({self.protocol}) v{p['version']}, status {p['status']}",
            f"  {p['title']}",
            f"  file {self.path.name}  sha256 {self.sha256[:12]}",
        ]
        for key in ("exposure.min_sessions", "exposure.window_months", "matching.caliper", "matching.ratio",
                    "outcomes.follow_up_months", "analyses.microsim.horizon_years",
                    "analyses.decision.probability_threshold", "reporting.min_cell"):
            if _has(self, key):
                lines.append(f"  {key:<42} {self.get(key)!r}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(repr(v))}</td></tr>"
            for k, v in self.table().itertuples(index=False)
        )
        head = html.escape(self.summary().splitlines()[0])
        return f"<details><summary>{head}</summary><table><tr><th>key</th><th>value</th></tr>{rows}</table></details>"


def _has(protocol: Protocol, key: str) -> bool:
    try:
        protocol.get(key)
    except ConfigurationError:
        return False
    return True


def load_protocol(name_or_path: str | Path, *, check_prose: bool = True) -> Protocol:
    """Load and validate a protocol's parameter file.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A protocol key (``"soft"``), a file stem (``"soft_joint_research"``) in :func:`protocol_dir`,
        or a path to a ``.yaml`` file (validated against the schema beside the package's protocols:
        ``schema/<protocol>.schema.yaml`` for its ``protocol`` key if present, else
        ``schema/protocol.schema.yaml``).
    check_prose : bool, default True
        Also check that the prose beside the file states the same key values
        (:func:`prose_mismatches`); skipped when the prose file does not exist.

    Returns
    -------
    Protocol

    Raises
    ------
    ConfigurationError
        Unknown name, unreadable YAML, or any violation (all listed, each with key, value and rule).

    Examples
    --------
    >>> load_protocol("soft").protocol
    'soft'
    """
    path = _resolve(name_or_path)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not a readable YAML file ({exc}).") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path}: a protocol file must be a mapping of sections; got {type(data).__name__}.")
    validate_protocol(data, source=str(path), schema=_load_schema(protocol_dir(), data))
    protocol = Protocol(
        name=data["name"], protocol=data["protocol"], path=path, sha256=hashlib.sha256(raw).hexdigest(),
        parameters=_Frozen(data),
    )
    if check_prose and protocol.prose_path.is_file():
        protocol.check_prose()
    return protocol


# --- prose ---------------------------------------------------------------------------------------


def prose_values(text: str) -> list[tuple[str, str, str]]:
    """The values the prose states, as ``(key, value text, where)`` triples.

    ``where`` is ``"table line N"`` for rows of the key-parameter table and ``"line N"`` for inline
    ``**value**<!-- key -->`` markers.

    Examples
    --------
    >>> prose_values("We require **4**<!-- exposure.min_sessions --> sessions.")
    [('exposure.min_sessions', '4', 'line 1')]
    """
    found: list[tuple[str, str, str]] = []
    in_table = False
    for n, line in enumerate(text.splitlines(), start=1):
        if _TABLE_BEGIN in line:
            in_table = True
            continue
        if _TABLE_END in line:
            in_table = False
            continue
        if in_table:
            row = _ROW.match(line.strip())
            if row:
                found.append((row["key"], row["value"].strip().strip("`"), f"table line {n}"))
            continue
        for m in _INLINE.finditer(_CODE_SPAN.sub("", line)):
            found.append((m["key"], m["value"].strip().strip("`"), f"line {n}"))
    return found


def prose_mismatches(protocol: Protocol, text: str | None = None) -> list[str]:
    """Where the prose and the parameter file disagree.

    Parameters
    ----------
    protocol : Protocol
    text : str, optional
        The prose; default the file :attr:`Protocol.prose_path`.

    Returns
    -------
    list of str
        One message per disagreement (key unknown to the parameters, or value different), plus one
        if the prose has no key-parameter table.

    Examples
    --------
    >>> p = load_protocol("soft")
    >>> prose_mismatches(p, "at least **3**<!-- exposure.min_sessions --> sessions")  # doctest: +ELLIPSIS
    ['prose has no key-parameter table ...', 'line 1: exposure.min_sessions is 3 in the prose but 4 in the parameters']
    """
    if text is None:
        text = protocol.prose_path.read_text(encoding="utf-8")
    problems = []
    if _TABLE_BEGIN not in text or _TABLE_END not in text:
        problems.append(f"prose has no key-parameter table (between {_TABLE_BEGIN} and {_TABLE_END})")
    for key, value_text, where in prose_values(text):
        try:
            expected = protocol.get(key)
        except ConfigurationError:
            problems.append(f"{where}: key {key!r} is not a parameter of {protocol.path.name}")
            continue
        try:
            stated = yaml.safe_load(value_text)
        except yaml.YAMLError:
            stated = value_text
        if not _same(stated, expected):
            problems.append(f"{where}: {key} is {value_text} in the prose but {expected!r} in the parameters")
    return problems


def _same(stated: Any, expected: Any) -> bool:
    if isinstance(stated, datetime.date) and isinstance(expected, str):
        return stated.isoformat() == expected  # YAML reads an unquoted 2020-04-01 in the prose as a date
    if isinstance(expected, bool) or isinstance(stated, bool):
        return stated is expected
    if isinstance(expected, int | float) and isinstance(stated, int | float):
        return float(stated) == float(expected)
    if isinstance(expected, list) and isinstance(stated, list):
        return len(stated) == len(expected) and all(_same(a, b) for a, b in zip(stated, expected, strict=True))
    return stated == expected
