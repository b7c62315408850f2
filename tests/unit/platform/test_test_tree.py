"""The shape of the test tree (docs/architecture.md, Tests): unit and integration tests sit in
one folder per business area (an area of src/openoms/services, or `platform` for what is no
area's), every folder is a package, and no test module imports another — what tests share
lives in conftest.py files and helper modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TESTS = ROOT / "tests"
AREAS = {p.name for p in (ROOT / "src/openoms/services").iterdir() if (p / "__init__.py").exists()}
SHELVES = ("unit", "integration")
TEST_MODULES = sorted(TESTS.rglob("test_*.py"))


def imported_test_modules(source: str, package: str) -> list[str]:
    """The test modules (last part `test_*`) that `source`, a module of `package`, imports;
    relative imports resolved, and `from X import Y` counted as X.Y since Y may be a module."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return [name for name in names if name.rsplit(".", 1)[-1].startswith("test_")]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from tests.integration.helpers import count", []),
        ("from tests.unit.factories import make_line", []),
        ("from .factories import make_line", []),
        ("import tests.e2e.common", []),
        ("from tests.e2e.test_http import Server", ["tests.e2e.test_http"]),
        ("import tests.e2e.test_http as h", ["tests.e2e.test_http"]),
        ("from tests.e2e import test_http", ["tests.e2e.test_http"]),
        ("from .test_summary import x", ["tests.unit.orders.test_summary"]),
        ("from ..test_money import x", ["tests.unit.test_money"]),
        ("from . import test_summary", ["tests.unit.orders.test_summary"]),
    ],
)
def test_an_import_of_a_test_module_is_found(source: str, found: list[str]) -> None:
    assert imported_test_modules(source, "tests.unit.orders") == found


def test_the_tree_has_test_modules() -> None:
    assert len(TEST_MODULES) > 50


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_module_imports_another(path: Path) -> None:
    package = ".".join(path.relative_to(ROOT).parent.parts)
    offending = imported_test_modules(path.read_text(encoding="utf-8"), package)
    assert offending == [], (
        f"{path.relative_to(ROOT)} imports {offending}: move what they share into a helper "
        "module (not named test_*) or a conftest.py"
    )


@pytest.mark.parametrize("shelf", SHELVES)
def test_unit_and_integration_tests_sit_in_an_area_folder(shelf: str) -> None:
    placed = [p.relative_to(TESTS / shelf).parts for p in (TESTS / shelf).rglob("test_*.py")]
    loose = sorted(parts[0] for parts in placed if len(parts) == 1)
    assert loose == [], f"tests/{shelf}/ holds {loose}: move each into tests/{shelf}/<area>/"
    unknown = sorted({parts[0] for parts in placed if len(parts) > 1} - AREAS - {"platform"})
    assert unknown == [], f"tests/{shelf}/ has folders {unknown}, no area of services/"


def test_every_folder_of_the_tests_is_a_package() -> None:
    folders = {p.parent for p in TESTS.rglob("*.py")}
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())
    assert missing == []
