"""Imports point down the layers of DESIGN.md, never up or sideways."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bastion"

LAYERS = {
    "errors": 0,
    "config": 0,
    "context": 0,
    "clock": 0,
    "ids": 0,
    "arn": 0,
    "protocol": 1,
    "crypto": 1,
    "storage": 1,
    "rules": 1,
    "barrier": 2,
    "auth": 3,
    "spine": 3,
    "services": 4,
    "dataplane": 4,
    "detect": 4,
    "gateway": 5,
    "cli": 5,
    "testing": 5,
}


def _package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:  # `from bastion.services import kms` names a module too
                yield f"{node.module}.{alias.name}"


def test_imports_respect_layers():
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("__init__.py", "__main__.py"):
            continue
        own = rel.parts[0].removesuffix(".py")
        own_layer = LAYERS[own]
        for module in _imports(path):
            if not module.startswith("bastion."):
                continue
            target = module.split(".")[1]
            if target not in LAYERS:
                continue
            if target == own:
                if own == "services" and len(rel.parts) > 2 and module.count(".") >= 2:
                    other = module.split(".")[2]
                    if other not in ("base", "common", rel.parts[1]):
                        problems.append(f"{rel}: service imports another service {module}")
                continue
            if LAYERS[target] >= own_layer and own_layer < 5:  # layer 5 may import anything
                problems.append(
                    f"{rel} (layer {own_layer}) imports {module} (layer {LAYERS[target]})"
                )
    assert problems == []
