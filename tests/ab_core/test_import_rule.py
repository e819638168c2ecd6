"""The layer rule: ab_core runs where only torch is installed; services never import fastapi or ray."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "ab_core": {
        "ray",
        "fastapi",
        "sqlalchemy",
        "redis",
        "starlette",
        "uvicorn",
        "alembic",
        "services",
        "api",
        "workers",
        "cli",
    },
    "services": {"fastapi", "ray", "starlette", "api", "workers", "cli"},
    "workers": {"api", "services", "cli", "fastapi", "sqlalchemy"},
    "api": {"workers", "cli", "ray"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_layer_imports_against_the_arrows():
    wrong = []
    for layer, forbidden in FORBIDDEN.items():
        for path in (ROOT / layer).rglob("*.py"):
            bad = imported_roots(path) & forbidden
            if bad:
                wrong.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not wrong, "\n".join(wrong)


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'ray', 'fastapi', 'sqlalchemy', 'redis', 'starlette'}:
            raise ImportError('blocked for the import-rule test: ' + name)
sys.meta_path.insert(0, Block())
"""


def test_ab_core_imports_and_runs_without_ray_fastapi_sqlalchemy_redis(tmp_path):
    script = (
        BLOCKER
        + f"""
import pkgutil, importlib, ab_core
for m in pkgutil.walk_packages(ab_core.__path__, 'ab_core.'):
    importlib.import_module(m.name)
from ab_core.data.synth import generate
from ab_core.runner import run
from ab_core.specs import parse_spec
generate({str(tmp_path)!r}, seed=0, size=32, per_category=4)
spec = parse_spec({{"kind": "pretrain", "method": {{"method": "simclr"}}, "schedule": {{"steps": 1}},
    "data": {{"dataset": "image_folder", "root": {str(tmp_path / "classes")!r}, "resize": 32, "crop": 32,
              "batch_size": 4}}}})
result = run(spec, {str(tmp_path / "out")!r}, device="cpu")
assert result["steps"] == 1, result
"""
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
