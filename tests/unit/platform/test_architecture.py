"""The shape of the code (docs/architecture.md) beyond what the import contracts check: no
module of openoms takes part in an import cycle, counting the imports written inside
functions and under TYPE_CHECKING (grimp reads them all); and docs/architecture.md states
the layers, areas, consumers and job kinds the code has."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from openoms.adapters.db.session import Database
from openoms.worker.consumers import default_jobs, default_registry


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_module_of_openoms_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("openoms", exclude_type_checking_imports=False)
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "e")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["a", "b", "c"]]


# --- docs/architecture.md matches the code ---------------------------------------------

ROOT = Path(__file__).resolve().parents[3]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "importlinter"
]["contracts"]


def area_layers() -> list[str]:
    """The layers of the services' areas (other layers contracts order modules within one
    package, such as domain/routing/batch)."""
    [layers] = [
        c["layers"]
        for c in CONTRACTS
        if c["type"] == "layers" and c.get("containers") == ["openoms.services"]
    ]
    return list(layers)


def test_the_documented_layers_are_the_contract() -> None:
    layers = area_layers()
    block = ARCHITECTURE.split("## The layers", 1)[1].split("```")[1]
    assert [line.strip() for line in block.strip().splitlines()] == layers


def test_every_area_is_documented_layered_and_has_a_protected_face() -> None:
    packages = sorted(
        p.name for p in (ROOT / "src/openoms/services").iterdir() if (p / "__init__.py").exists()
    )
    documented = sorted(re.findall(r"^\| `(\w+)` \|", ARCHITECTURE, flags=re.M))
    layered = sorted(area.strip() for layer in area_layers() for area in layer.split("|"))
    protected = sorted(
        c["protected_modules"][0].split(".")[2]
        for c in CONTRACTS
        if c["type"] == "protected" and c["protected_modules"][0].startswith("openoms.services.")
    )
    assert documented == layered == protected == packages


def test_the_documented_consumers_are_the_wired_ones() -> None:
    wired = {(event, c.name) for c in default_registry() for event in c.subscribes}
    documented = set()
    for line in ARCHITECTURE.split("### Effects that go up or sideways", 1)[1].splitlines():
        cells = line.split("|")
        if len(cells) == 5 and "(" in cells[2]:
            events = re.findall(r"`([\w.*]+)`", cells[1])  # "*": every event
            names = re.findall(r"`([\w-]+)`", cells[2])
            documented |= {(event, name) for event in events for name in names}
    assert documented == wired


def test_the_documented_job_kinds_are_the_registered_ones(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        registered = set(default_jobs(db).kinds)
    finally:
        db.dispose()
    paragraph = ARCHITECTURE.split("Job kinds (registered in `default_jobs`):", 1)[1]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph.split("\n\n", 1)[0]))
    assert documented == registered


@pytest.mark.slow
def test_every_module_of_openoms_can_be_imported_first() -> None:
    """grimp sees `import openoms.cli.tables` as an import of that module only, but Python
    runs `openoms/cli/__init__.py` first: a module that only works once something else was
    imported hides a cycle through a package. Each module is imported first in a fork of a
    process that has loaded only third-party libraries.

    Python imports a module's package before the module, and when the package's own import
    has loaded the module, importing it first is importing its package first: the same code
    runs in the same order. Such a module is not tried again (the package's fork answered
    for it); the others get their own fork, packages before their modules."""
    modules = sorted(grimp.build_graph("openoms").modules)
    script = (
        "import os, sys, importlib\n"
        # Every third-party module openoms uses, loaded once here rather than in each fork:
        # a first fork imports all of openoms and names what else that loaded.
        "reader, writer = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    for name in sys.argv[1:]:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except BaseException:\n"
        "            pass\n"
        "    others = [m for m in sys.modules if m.split('.')[0] != 'openoms']\n"
        "    os.write(writer, '\\n'.join(others).encode())\n"
        "    os._exit(0)\n"
        "os.close(writer)\n"
        "with os.fdopen(reader) as names:\n"
        "    third_party = names.read().split()\n"
        "os.wait()\n"
        "for name in third_party:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException:\n"
        "        pass\n"
        # name -> the openoms modules its import loaded (empty when it failed)
        "loaded, failed, running, forks = {}, [], {}, 0\n"
        "def reap():\n"
        "    pid, status = os.wait()\n"
        "    name, reader = running.pop(pid)\n"
        "    with os.fdopen(reader) as out:\n"
        "        loaded[name] = set(out.read().split())\n"
        "    if status != 0:\n"
        "        failed.append(name)\n"
        "def start(name):\n"
        "    reader, writer = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.close(reader)\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except BaseException as exc:\n"
        "            print(f'{name}: {exc!r}', flush=True)\n"
        "            os._exit(1)\n"
        "        ours = [m for m in sys.modules if m.split('.')[0] == 'openoms']\n"
        "        os.write(writer, '\\n'.join(ours).encode())\n"
        "        os._exit(0)\n"
        "    os.close(writer)\n"
        "    running[pid] = (name, reader)\n"
        "names = sys.argv[1:]\n"
        "for depth in sorted({n.count('.') for n in names}):\n"
        "    for name in [n for n in names if n.count('.') == depth]:\n"
        "        package = name.rpartition('.')[0]\n"
        "        if package in loaded and (name in loaded[package] or package in failed):\n"
        "            loaded[name] = loaded[package]\n"
        "            continue\n"
        "        if len(running) == 2:  # two forks at a time: one per core\n"
        "            reap()\n"
        "        start(name)\n"
        "        forks += 1\n"
        "    while running:\n"
        "        reap()\n"
        "print(f'{forks} forks for {len(names)} modules', file=sys.stderr)\n"
        "print('FAILED', sorted(failed))\n"
    )
    # Not under coverage: `make test` measures subprocesses, and every fork saving its data at
    # exit cost CPU for lines the other tests cover anyway (with the preloading above, the
    # test's CPU went from 178 s to 102 s under `coverage run`).
    unmeasured = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [sys.executable, "-c", script, *modules],
        env=unmeasured,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout.strip().splitlines()[-1] == "FAILED []", done.stdout + done.stderr
