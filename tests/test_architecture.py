"""The layering ARCHITECTURE.md describes, checked on the source: who may import whom.

Every ``import`` and ``from ... import`` of a module is read with :mod:`ast`, at any depth (an
import inside a function still ties the layers together), except where a rule says
"at import time" (module level), which is what start-up time depends on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "iwm_lab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from iwm_lab import migrate` imports the submodule iwm_lab.migrate.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offenders(layer: tuple[str, ...], banned: tuple[str, ...], **options: bool) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, path in MODULES.items()
        if _within(module, layer)
        for target in _imports(path, **options)
        if _within(target, banned)
    )


# The CLI is a package, iwm_lab.cli and every module below it: all of it is the top layer.
CLI = ("iwm_lab.cli",)


def test_the_package_is_read() -> None:
    # The rules below would pass on an empty tree: make sure they see the real one.
    assert {"iwm_lab.cli", "iwm_lab.queries.ratings", "iwm_lab.charts.streaming"} <= set(MODULES)
    assert {"iwm_lab.cli.db", "iwm_lab.cli.report"} <= set(MODULES)
    cli_imports = set().union(*(_imports(p) for m, p in MODULES.items() if _within(m, CLI)))
    assert "iwm_lab.database" in cli_imports


FOUNDATION = ("iwm_lab.exceptions", "iwm_lab.settings", "iwm_lab.formatting")


def test_the_foundation_loads_nothing_else_at_import_time() -> None:
    others = tuple(m for m in MODULES if m != "iwm_lab" and not _within(m, FOUNDATION))
    assert _offenders(FOUNDATION, (*others, "sqlalchemy"), module_level_only=True) == []


@pytest.mark.parametrize(
    ("layer", "banned"),
    [
        pytest.param(
            ("iwm_lab.queries",),
            (
                "iwm_lab.operations",
                "iwm_lab.demodata",
                "iwm_lab.importing",
                "iwm_lab.reports",
                "iwm_lab.charts",
                "iwm_lab.findings",
                "iwm_lab.demo",
                "iwm_lab.lab",
                "iwm_lab.cli",
            ),
            id="queries-only-read",
        ),
        pytest.param(
            ("iwm_lab.charts",),
            ("iwm_lab.database", "iwm_lab.queries", "iwm_lab.explore", "sqlalchemy", "psycopg"),
            id="charts-never-query",
        ),
        pytest.param(
            ("iwm_lab.findings",),
            ("iwm_lab.database", "iwm_lab.explore", "sqlalchemy", "psycopg"),
            id="findings-take-frames",
        ),
        pytest.param(
            # Not "iwm_lab" itself: as a prefix it would take in the CLI's own modules too
            # (its __init__ is checked below).
            tuple(m for m in MODULES if m != "iwm_lab" and not _within(m, CLI)),
            CLI,
            id="nothing-below-imports-the-cli",
        ),
        pytest.param(("iwm_lab",), ("tests", "benchmarks"), id="the-package-stands-alone"),
    ],
)
def test_layers_import_only_what_they_may(layer: tuple[str, ...], banned: tuple[str, ...]) -> None:
    assert _offenders(layer, banned) == []


def test_the_package_root_does_not_import_the_cli() -> None:
    assert sorted(t for t in _imports(MODULES["iwm_lab"]) if _within(t, CLI)) == []


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    # The negative control: the reader sees an import buried in a function.
    source = tmp_path / "chart.py"
    source.write_text("def draw():\n    from iwm_lab.queries import ratings\n", encoding="utf-8")
    assert "iwm_lab.queries.ratings" in _imports(source)
    assert "iwm_lab.queries.ratings" not in _imports(source, module_level_only=True)
