"""The layers keep to their side of the store.

- `puhui/store/` owns every SQL statement, transaction helper and database-dialect difference.
- `puhui/services/` orchestrate the domain through the store's repositories: they build no
  statement (no `select`/`insert`/`update`/`delete`/`text`/`bindparam`... from SQLAlchemy),
  import no row model (`puhui.store.models`, `puhui.store.*_models`) and do not reach the
  store's statement machinery (`puhui.store.prepared`, `puhui.store.bulk`).  They may name
  the unit-of-work types (`Session`, `Connection`, `Engine`) they pass to the store.
- `puhui/api/` imports nothing from `puhui.store` and nothing from SQLAlchemy (type names
  under `if TYPE_CHECKING:` excepted), and never looks at the database's dialect.

Imports are read from the source (module level and inside functions alike), so a lazy import
counts as much as one at the top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "puhui"

#: The SQLAlchemy names a service may import: the unit-of-work types it hands to the store.
SERVICE_SQLALCHEMY_NAMES = {
    "sqlalchemy": {"Connection", "Engine"},
    "sqlalchemy.orm": {"Session"},
}
#: Store modules a service may not import: row models and the statement machinery.
STORE_INTERNALS = re.compile(r"^puhui\.store\.(models|\w+_models|prepared|bulk)$")

#: Services allowed to break the rule, each with why.  Keep this list short.
SERVICE_EXCEPTIONS: dict[str, str] = {}
#: API modules allowed to break the rule, each with why.
API_EXCEPTIONS: dict[str, str] = {}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside an `if TYPE_CHECKING:` block (never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING") or
                (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")):
            for inner in node.body:
                out.update(id(n) for n in ast.walk(inner))
    return out


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None for `import module`, line) of every import run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = _name(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            for alias in node.names:
                full = f"{module}.{alias.name}"
                # `from puhui.store import platform_models` imports a module
                found.append((full, None, node.lineno) if _is_store_module(full)
                             else (module, alias.name, node.lineno))
    return found


def _is_store_module(name: str) -> bool:
    if not name.startswith("puhui.store."):
        return False
    return (ROOT / "store" / (name.rsplit(".", 1)[1] + ".py")).is_file()


def service_violations(path: Path) -> list[str]:
    out = []
    for module, name, line in _imports(path):
        where = f"{_name(path)}:{line}"
        if module == "sqlalchemy" or module.startswith("sqlalchemy."):
            if name is None or name not in SERVICE_SQLALCHEMY_NAMES.get(module, set()):
                out.append(f"{where} imports {module}{'.' + name if name else ''}")
        elif STORE_INTERNALS.match(module):
            out.append(f"{where} imports {module}{' (' + name + ')' if name else ''}")
    return out


def api_violations(path: Path) -> list[str]:
    out = []
    for module, name, line in _imports(path):
        where = f"{_name(path)}:{line}"
        if module == "puhui.store" or module.startswith("puhui.store."):
            out.append(f"{where} imports {module}{'.' + name if name else ''}")
        elif module == "sqlalchemy" or module.startswith("sqlalchemy."):
            out.append(f"{where} imports {module}{'.' + name if name else ''}")
    text = path.read_text(encoding="utf-8")
    for number, source in enumerate(text.splitlines(), 1):
        if ".dialect" in source:
            out.append(f"{_name(path)}:{number} looks at the database's dialect")
    return out


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_services_build_no_sql(path: Path) -> None:
    if _name(path) in SERVICE_EXCEPTIONS:
        pytest.skip(SERVICE_EXCEPTIONS[_name(path)])
    assert service_violations(path) == []


@pytest.mark.parametrize("path", _modules("api"), ids=lambda p: str(p.relative_to(ROOT / "api")))
def test_api_reaches_no_store(path: Path) -> None:
    if _name(path) in API_EXCEPTIONS:
        pytest.skip(API_EXCEPTIONS[_name(path)])
    assert api_violations(path) == []


def test_exceptions_are_still_needed() -> None:
    """An exception whose module now keeps the rule is dropped from the list."""
    for name in SERVICE_EXCEPTIONS:
        assert service_violations(ROOT.parent / (name.replace(".", "/") + ".py")), name
    for name in API_EXCEPTIONS:
        assert api_violations(ROOT.parent / (name.replace(".", "/") + ".py")), name


def test_the_check_sees_what_it_forbids(tmp_path: Path) -> None:
    """The checks catch the imports they exist to refuse (a test that passes on anything
    proves nothing)."""
    services = tmp_path / "puhui" / "services"
    services.mkdir(parents=True)
    bad = services / "bad.py"
    bad.write_text("from sqlalchemy import select, Connection\n"
                   "from sqlalchemy.orm import Session, object_session\n"
                   "from puhui.store.platform_models import ApplicationRow\n"
                   "from puhui.store import prepared\n"
                   "def f():\n    from sqlalchemy.exc import IntegrityError\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path / "puhui"
    try:
        (ROOT / "store").mkdir()
        (ROOT / "store" / "prepared.py").write_text("")
        found = service_violations(bad)
        api = tmp_path / "puhui" / "api"
        api.mkdir()
        route = api / "route.py"
        route.write_text("from typing import TYPE_CHECKING\n"
                         "if TYPE_CHECKING:\n    from sqlalchemy.orm import Session\n"
                         "from puhui.store.idempotency import find\n"
                         "x = engine.dialect.name\n")
        api_found = api_violations(route)
    finally:
        ROOT = saved
    assert len(found) == 5, found  # select, object_session, the row model, prepared, exc
    assert len(api_found) == 2, api_found  # the store import and the dialect, not the type
