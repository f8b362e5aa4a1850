"""The layering of docs/architecture.md, checked on every module of `puhui/`.

Each module is parsed with `ast` (nothing is imported) and every import it makes is read: at the
top, inside functions (a deferred import is a dependency all the same) and in `try` blocks;
only imports under `if TYPE_CHECKING:` are left out, since they never run.  An import is
refused when its layer may not depend on the target's; the top-level packages must not import
each other in a cycle.

Known violations that are being fixed are listed in `ALLOWED` and `ALLOWED_CYCLES` with the
reason, one line each.  The lists can only shrink: an entry that no longer matches an import
fails the test too, so remove it when the import goes.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import puhui

PACKAGE = Path(puhui.__file__).resolve().parent

#: The layer of each top-level package or module of `puhui` (docs/architecture.md).  A new one
#: must be placed here, or `test_every_top_level_package_has_a_layer` fails.
LAYERS = {
    # the pure core: rules and arithmetic, no database, no I/O framework
    "errors": "core", "money": "core", "calendar": "core", "json_text": "core", "runtime": "core",
    "artefacts": "core", "demo": "core", "loans": "core", "ledger": "core", "risk": "core",
    "decision": "core", "origination": "core", "parties": "core", "lines": "core",
    "notify": "core", "collections": "core",
    # every SQL statement, the unit of work, the dialect differences
    "store": "store",
    # the loan book over the store (where a loan's transaction begins) and what reads it whole
    "book": "book", "book_simulation": "book", "report": "book",
    # the product's batch path for the daily close
    "batch": "batch",
    # orchestration: one business operation per function, no SQL
    "services": "services",
    # thin front ends
    "api": "api", "cli": "cli",
}

#: What a service may name from SQLAlchemy: the unit of work it is handed (tests/test_layers_store.py
#: checks the same in more detail); building statements is the store's.
UNIT_OF_WORK_TYPES = frozenset({"Session", "Connection", "Engine"})

FRAMEWORKS = frozenset({"sqlalchemy", "alembic", "psycopg", "typer", "click", "rich", "fastapi",
                        "starlette", "uvicorn"})

#: (what imports: a layer or a package, what it must not import, the rule)
RULES = [
    ("core", {"store", "book", "batch", "services", "api", "cli"} | FRAMEWORKS,
     "the core is pure: no storage, no orchestration, no front end, no framework"),
    ("store", {"book", "batch", "services", "api", "cli", "typer", "click", "rich", "fastapi",
               "starlette", "uvicorn"},
     "the store knows only the core and the database"),
    ("book", {"services", "api", "cli", "typer", "click", "fastapi", "starlette", "uvicorn"},
     "the loan book sits below the services and the front ends"),
    ("batch", {"services", "api", "cli", "typer", "click", "rich", "fastapi", "starlette",
               "uvicorn"},
     "the batch path is called by the services and the CLI, never the reverse"),
    ("services", {"api", "cli", "sqlalchemy", "typer", "click", "rich", "fastapi", "starlette",
                  "uvicorn"},
     "services orchestrate: SQL belongs to the store, presentation to the front ends"),
    ("api", {"store", "book", "cli", "sqlalchemy", "typer", "click", "rich"},
     "the API is thin: it calls the services"),
    ("cli", {"store", "sqlalchemy"},
     "the command line is thin: it calls the services"),
    ("decision", {"origination"},
     "origination builds on decisions, never the reverse"),
    ("risk", {"decision", "services", "cli"},
     "the models know nothing of the policies that use them, nor of the platform"),
]

#: Known violations being fixed elsewhere: (importing module, imported package) -> why.
ALLOWED: dict[tuple[str, str], str] = {}

#: Known cycles between top-level packages: the packages in it -> why.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module named by an import that can run (TYPE_CHECKING blocks left out)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy") \
                and {a.name for a in node.names} <= UNIT_OF_WORK_TYPES:
            pass  # the session or connection a caller hands in: a type, not SQL
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            if target == "puhui":  # `from puhui import x`
                found.update(f"puhui.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _target(name: str) -> str | None:
    """The top-level package of `puhui` an import names, or the framework; None otherwise."""
    parts = name.split(".")
    if parts[0] == "puhui":
        return parts[1] if len(parts) > 1 else None
    return parts[0] if parts[0] in FRAMEWORKS else None


def _graph() -> dict[str, set[str]]:
    """Importing module -> the top-level packages and frameworks it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = {_target(name) for name in _imports(tree, module, path.name == "__init__.py")}
        graph[module] = {t for t in targets if t is not None}
    return graph


GRAPH = _graph()


def _unit(module: str) -> str:
    return module.split(".")[1]


def _violations() -> dict[tuple[str, str], str]:
    found = {}
    for module, targets in GRAPH.items():
        if module == "puhui" or module.startswith("puhui.store.migrations"):
            continue  # the migrations are frozen history: they may name whatever they did
        unit = _unit(module)
        for subject, forbidden, rule in RULES:
            if subject not in (unit, LAYERS.get(unit)):
                continue
            for target in targets:
                if target in forbidden and target != unit:
                    found[(module, target)] = rule
    return found


def _unit_cycles() -> list[frozenset[str]]:
    """The strongly connected sets of more than one top-level package (Tarjan)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        if module == "puhui":
            continue
        unit = _unit(module)
        edges[unit] |= {t for t in targets if t in LAYERS and t != unit}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(frozenset(component))

    for v in sorted(LAYERS):
        if v not in index:
            connect(v)
    return cycles


def test_every_top_level_package_has_a_layer() -> None:
    units = {_unit(m) for m in GRAPH if m != "puhui"}
    assert units - set(LAYERS) == set(), "place the new package in LAYERS (docs/architecture.md)"
    assert set(LAYERS) - units == set(), "LAYERS names a package that no longer exists"


def test_no_layer_imports_one_it_must_not() -> None:
    found = _violations()
    new = {f"{module} imports {target}: {found[(module, target)]}"
           for module, target in found if (module, target) not in ALLOWED}
    assert not new, "\n".join(sorted(new))


def test_the_allowlist_only_names_imports_that_still_exist() -> None:
    stale = set(ALLOWED) - set(_violations())
    assert not stale, f"these imports are gone: remove them from ALLOWED: {sorted(stale)}"


def test_no_import_cycles_between_top_level_packages() -> None:
    cycles = set(_unit_cycles())
    new = cycles - set(ALLOWED_CYCLES)
    assert not new, f"import cycles between packages: {[sorted(c) for c in new]}"
    stale = set(ALLOWED_CYCLES) - cycles
    assert not stale, f"these cycles are gone: remove them from ALLOWED_CYCLES: {[sorted(c) for c in stale]}"


def test_the_checker_sees_deferred_imports_and_skips_type_checking_blocks() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from puhui.store.db import x\n"
                     "def f():\n    from puhui.services import access\n"
                     "from . import sibling\n")
    names = _imports(tree, "puhui.risk.reasons", is_package=False)
    assert "puhui.services" in names and "puhui.risk.sibling" not in names
    assert "puhui.risk" in names and "puhui.store.db" not in names
