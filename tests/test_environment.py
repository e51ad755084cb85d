"""The pinned environment is one set: pyproject.toml, requirements.lock and environment.yml agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

import wellness_research

ROOT = Path(__file__).resolve().parents[1]
_NORMALISE = re.compile(r"[-_.]+")


def _name(raw: str) -> str:
    return _NORMALISE.sub("-", raw).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"not pinned exactly: {line!r}"
        pins[_name(req.name)] = specs[0].version
    return pins


def _pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return _pins(data["project"]["dependencies"])


def _lock_pins() -> dict[str, str]:
    return _pins((ROOT / "requirements.lock").read_text().splitlines())


def _environment_pins() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return _pins(pip_section), pip_section


def test_every_direct_dependency_is_pinned_in_the_lock_at_the_same_version():
    lock = _lock_pins()
    for name, pin in _pyproject_pins().items():
        assert lock.get(name) == pin, f"{name}: pyproject {pin}, lock {lock.get(name)}"


def test_environment_yml_repeats_pyproject_and_installs_the_lock():
    env_pins, pip_section = _environment_pins()
    assert env_pins == _pyproject_pins()
    assert "-r requirements.lock" in pip_section
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_lock_pins_every_installed_distribution_exactly():
    # The lock is the full transitive set: every line is an exact pin and names are unique.
    lines = [l for l in (ROOT / "requirements.lock").read_text().splitlines() if l.strip()]
    assert len(_lock_pins()) == len(lines)


def test_version_comes_from_package_metadata():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert wellness_research.__version__ == data["project"]["version"]
