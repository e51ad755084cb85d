"""The examples in the docstrings run (numpydoc Examples sections are part of the API's promise)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import wellness_research

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(wellness_research.__path__, prefix="wellness_research.")
    if not m.name.endswith(".cli")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
