"""Imports flow one way: pipeline stages and storage never import the CLI or the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ltrr"
EDGES = ("ltrr.cli", "ltrr.service")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


INNER = sorted(
    p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] not in ("cli", "service")
)


@pytest.mark.parametrize("path", INNER, ids=lambda p: str(p.relative_to(SRC)))
def test_inner_modules_do_not_import_edges(path: Path) -> None:
    bad = {name for name in _imports(path) if name.startswith(EDGES)}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_only_cli_prints() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in INNER
        if any(
            isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            for node in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert not offenders, f"library modules print: {offenders}"
