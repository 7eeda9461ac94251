"""orchestration/ must run without Django, Celery, Channels or the web layer."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

FORBIDDEN = {"django", "celery", "channels", "channels_redis", "kombu", "webapp"}


def _imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_in_orchestration_imports_a_forbidden_package() -> None:
    files = sorted((ROOT / "orchestration").rglob("*.py"))
    assert files, "orchestration/ has no modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path.read_text()) & FORBIDDEN)
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_scanner_catches_a_forbidden_import() -> None:
    assert "django" in _imported_roots("def f():\n    from django.db import models\n")
    assert "webapp" in _imported_roots("import webapp.accounts")


def test_importing_orchestration_loads_none_of_them() -> None:
    code = (
        "import importlib, pkgutil, sys, orchestration\n"
        "for m in pkgutil.walk_packages(orchestration.__path__, 'orchestration.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.strip() == ""
