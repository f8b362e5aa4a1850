"""The test suite's own layout: any set of test directories can run together in one pytest call.

Each conftest.py is imported as module `conftest` (the test directories are not packages), so a
test importing names from `conftest` gets whichever directory's conftest was imported last:
`tests/api` and `tests/store` together broke on `from conftest import START`.  Shared fixtures
live in conftest.py files; shared constants and helpers in uniquely named modules.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_no_test_module_imports_from_a_conftest() -> None:
    offenders = [str(p.relative_to(TESTS)) for p in sorted(TESTS.rglob("*.py"))
                 if "conftest" in _imported_modules(p)]
    assert offenders == [], f"import shared names from a *_samples.py module: {offenders}"


def test_helper_modules_have_unique_names_across_the_suite() -> None:
    helpers = [p for p in TESTS.rglob("*.py")
               if not p.name.startswith("test_") and p.name != "conftest.py"]
    clashes = {name: n for name, n in Counter(p.name for p in helpers).items() if n > 1}
    assert clashes == {}, f"helper modules imported by bare name must be unique: {clashes}"
