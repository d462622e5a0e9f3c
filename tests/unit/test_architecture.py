"""Imports flow one way (STYLE.md): the pipeline never imports its users, and the offline tools
(evaluate, ope, simulate) reach the pipeline only through its public modules.

Layers, lowest first: the pipeline (stages, catalog, storage, engine) < evaluate < ope <
simulate < the edges (cli, service). A module may import its own layer and the ones below.
Inside the pipeline, ``select`` and ``retrieve`` never import each other: the policy knows
strategies by name from the config, and a retriever knows nothing of plans.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ltrr"
EDGES = ("cli", "service")
TOOLS = ("evaluate", "ope", "simulate")
#: Packages each tool may not import (the ones above it).
TOOL_FORBIDS = {
    "evaluate": ("ope", "simulate", *EDGES),
    "ope": ("simulate", *EDGES),
    "simulate": EDGES,
}
#: Private modules every layer may import: the one door for optional dependencies (STYLE.md),
#: and the one place Ray is started or attached to (sweeps, OPE, training).
SHARED_PRIVATE = ("ltrr._optional", "ltrr._ray")
#: Pairs of pipeline packages that must not know each other.
STRANGERS = (("select", "retrieve"), ("retrieve", "select"))


def _imports(path: Path) -> set[tuple[str, str]]:
    """(module, imported name) pairs; the name is ``""`` for ``import module``."""
    pairs: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            pairs.update((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            pairs.update((node.module, alias.name) for alias in node.names)
    return pairs


def _package(module: str) -> str | None:
    """The ltrr package (first component below ``ltrr``) of ``module``, or None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "ltrr" and len(parts) > 1 else None


def _package_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


MODULES = sorted(SRC.rglob("*.py"))
PIPELINE = [p for p in MODULES if _package_of(p) not in (*EDGES, *TOOLS)]


def _ids(path: Path) -> str:
    return str(path.relative_to(SRC))


@pytest.mark.parametrize("path", PIPELINE, ids=_ids)
def test_pipeline_never_imports_its_users(path: Path) -> None:
    bad = {m for m, _ in _imports(path) if _package(m) in (*EDGES, *TOOLS)}
    assert not bad, f"{_ids(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", [p for p in MODULES if _package_of(p) in TOOLS], ids=_ids)
def test_tools_import_only_lower_layers_and_public_modules(path: Path) -> None:
    forbidden = TOOL_FORBIDS[_package_of(path)]
    above = {m for m, _ in _imports(path) if _package(m) in forbidden}
    assert not above, f"{_ids(path)} imports {sorted(above)} from a layer above it"
    private = {
        f"{m}:{name}" if name else m
        for m, name in _imports(path)
        if _package(m) not in (None, *TOOLS)
        and m not in SHARED_PRIVATE
        and (any(part.startswith("_") for part in m.split(".")) or name.startswith("_"))
    }
    assert not private, f"{_ids(path)} reaches into the pipeline's private parts: {private}"


@pytest.mark.parametrize(("importer", "imported"), STRANGERS)
def test_select_and_retrieve_do_not_know_each_other(importer: str, imported: str) -> None:
    offenders = {
        f"{_ids(p)} -> {m}"
        for p in (SRC / importer).rglob("*.py")
        for m, _ in _imports(p)
        if _package(m) == imported
    }
    assert not offenders, sorted(offenders)


def test_only_cli_prints() -> None:
    offenders = [
        _ids(p)
        for p in MODULES
        if _package_of(p) not in EDGES
        and any(
            isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            for node in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert not offenders, f"library modules print: {offenders}"


def test_modules_stay_small() -> None:
    """STYLE.md: modules under about 400 lines; none past 450."""
    long = {_ids(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > 450}
    assert not long, f"split these along a seam a reader would name: {long}"


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checks are not vacuous: a private import and an upward import are found."""
    module = tmp_path / "probe.py"
    module.write_text("from ltrr.retrieve._index import Rows\nimport ltrr.simulate.run\n")
    pairs = _imports(module)
    assert ("ltrr.retrieve._index", "Rows") in pairs
    assert {_package(m) for m, _ in pairs} == {"retrieve", "simulate"}
