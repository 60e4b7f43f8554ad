"""The package's layout rules: one version, and names imported from the module that defines them."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import pkgutil
from pathlib import Path

import bayesflight
import pytest

PACKAGE = Path(bayesflight.__file__).parent
ROOT_DEFINES = {"__version__"}  # what the package root defines itself, not re-exports


def test_the_version_is_pyprojects() -> None:
    assert bayesflight.__version__ == importlib.metadata.version("bayesflight")
    tomllib = pytest.importorskip("tomllib")
    with (Path(__file__).parents[1] / "pyproject.toml").open("rb") as handle:
        assert bayesflight.__version__ == tomllib.load(handle)["project"]["version"]


def test_no_module_imports_a_name_through_the_package_root() -> None:
    # `from . import HypothesisGrid` in teacher.py went through the root's lazy __getattr__
    # into belief: a cycle waiting to happen. Submodules and the root's own names are fine.
    submodules = {module.name for module in pkgutil.iter_modules([str(PACKAGE)])}
    # the compiled core sits beside the sources only in a regular install
    if importlib.util.find_spec("bayesflight._core") is not None:
        submodules.add("_core")
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        depth = len(path.relative_to(PACKAGE).parts)  # 1: a module of the root
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module is None and node.level == depth:
                offenders += [f"{path.relative_to(PACKAGE)}: {alias.name}" for alias in node.names
                              if alias.name not in submodules | ROOT_DEFINES]
            if isinstance(node, ast.ImportFrom) and node.module == "bayesflight":
                offenders.append(f"{path.relative_to(PACKAGE)}: from bayesflight import ...")
    assert not offenders, offenders
