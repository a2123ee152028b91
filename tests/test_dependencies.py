"""Everything chainml imports is declared in pyproject.toml (core or an extra)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_top_levels() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "chainml").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "chainml" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _normalized(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra != "dev":  # the library may not need what only its tests and benchmarks use
            requirements += items
    return {_normalized(r) for r in requirements}


def test_every_imported_distribution_is_declared() -> None:
    distributions = packages_distributions()
    declared = _declared()
    missing = {}
    for module, where in _imported_top_levels().items():
        owners = {_normalized(d) for d in distributions.get(module, [module])}
        if not owners & declared:
            missing[module] = (sorted(owners), where)
    assert not missing, missing


def test_the_probe_sees_real_imports() -> None:
    imported = _imported_top_levels()
    assert {"numpy", "eth_abi", "sklearn", "fastapi"} <= set(imported)
    assert "scipy" in imported and "scipy" in _declared()
