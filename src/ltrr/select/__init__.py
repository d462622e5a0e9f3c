"""The ``select`` stage: policies that choose which strategies to run and how deep.

``make_policy(name, config)`` builds a policy by its stable name:

- ``"ltrr"``: the learned contextual semi-bandit (``select.bandit.BanditPolicy``);
- ``"vw"``: the peer, Vowpal Wabbit's contextual bandit over whole plans (``select.vw``; needs
  the ``peers`` extra);
- ``"hybrid"``, ``"hybrid@D"``, ``"union"``, ``"lexical@50"``, ``"lexical@50+dense@25"``: fixed
  plans (``select.fixed.FixedPolicy``).

``load_policy(directory, config)`` reads back whatever ``policy.save(directory)`` wrote. A saved
policy is a folder of npy and JSON files with a ``manifest.json`` (format and ltrr versions,
policy name, parameters, sha256 of every file), written to a temporary folder and renamed into
place. ``[select]`` (``SelectParams``) holds what every policy plans over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.storage import folder
from ltrr.storage.folder import read_arrays, staged, write_arrays

if TYPE_CHECKING:
    from ltrr.select.base import Policy

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class SelectParams:
    """``[select]``: the strategies a policy plans over, the depth grid and the search budget.

    ``budget`` is the most candidates (total depth over strategies) a greedy plan spends; the
    exploration plans of the learned policy may exceed it.
    """

    strategies: tuple[str, ...] = ("lexical", "fuzzy", "structured", "dense", "memory")
    depths: tuple[int, ...] = (10, 25, 50, 100, 200)
    budget: int = 200

    def __post_init__(self) -> None:
        if not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise ConfigError(
                f"select.strategies must name distinct strategies, got {list(self.strategies)}"
            )
        grid = list(self.depths)
        if not grid or any(d <= 0 for d in grid) or grid != sorted(set(grid)):
            raise ConfigError(f"select.depths must be positive and strictly ascending, got {grid}")
        if self.budget < 1:
            raise ConfigError(f"select.budget must be >= 1, got {self.budget}")


# -- registry -----------------------------------------------------------------------------


def _ltrr(name: str, config: Config | None, seed: int | None) -> Policy:
    from ltrr.select.bandit import BanditPolicy

    return BanditPolicy.from_config(config, seed=seed)


def _vw(name: str, config: Config | None, seed: int | None) -> Policy:
    from ltrr.select.vw import VWPolicy

    return VWPolicy.from_config(config, seed=seed)


def _fixed(name: str, config: Config | None, seed: int | None) -> Policy:
    from ltrr.select.fixed import FixedPolicy

    return FixedPolicy.from_name(name, config)


#: Policies with a name of their own -> constructor ``(name, config, seed)``. Any other name is
#: read as a fixed plan ("lexical@50+dense@25", "hybrid@25").
POLICIES: dict[str, Callable[[str, Config | None, int | None], Policy]] = {
    "ltrr": _ltrr,
    "vw": _vw,
    "hybrid": _fixed,
    "union": _fixed,
}


def make_policy(name: str, config: Config | None = None, *, seed: int | None = None) -> Policy:
    """The policy called ``name`` with fresh learned state (``seed`` overrides the config's)."""
    return POLICIES.get(name, _fixed)(name, config, seed)


def load_policy(directory: Path, config: Config | None = None) -> Policy:
    """The policy ``save(directory)`` wrote, learned state included."""
    manifest = read_manifest(directory)
    name = str(manifest.get("policy", ""))
    if name == "ltrr":
        from ltrr.select.bandit import BanditPolicy

        return BanditPolicy.load(directory, config)
    if name == "vw":
        from ltrr.select.vw import VWPolicy

        return VWPolicy.load(directory, config)
    from ltrr.select.fixed import FixedPolicy

    return FixedPolicy.load(directory, config)


# -- saving -------------------------------------------------------------------------------


def write_policy(
    directory: Path,
    policy: str,
    params: Mapping[str, Any],
    arrays: Mapping[str, NDArray[Any]],
    documents: Mapping[str, Any],
) -> None:
    """Write ``arrays`` (npy) and ``documents`` (JSON) plus a manifest, atomically."""
    with staged(directory) as tmp:
        manifest = folder.new_manifest(
            "ltrr-policy", FORMAT_VERSION, policy=policy, params=dict(params)
        )
        write_arrays(tmp, manifest, arrays, documents)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a saved policy, checked for format and version."""
    return folder.read_manifest(
        directory, "ltrr-policy", FORMAT_VERSION, holds="saved policy",
        remedy="replay the event log to rebuild it",
    )  # fmt: skip


def read_policy(
    directory: Path,
) -> tuple[dict[str, Any], dict[str, NDArray[Any]], dict[str, Any]]:
    """Manifest, arrays and documents of a folder ``write_policy`` wrote, checksums verified."""
    manifest = read_manifest(directory)
    arrays, documents = read_arrays(directory, manifest, "replay the event log")
    return manifest, arrays, documents
