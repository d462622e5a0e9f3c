"""Fixed plans: the baselines the learned policy must beat, behind the same Policy protocol.

Names (EVALUATION.md section 3):

- ``"lexical@50"``, ``"lexical@50+dense@25"``: the named strategies at the named depths;
- ``"hybrid@D"``: lexical@D + dense@D (the engine fuses the lists with RRF; to the plan it is
  just the two depths); ``"hybrid"`` = ``"hybrid@100"``;
- ``"union"``: every strategy of ``[select]`` at the deepest depth of its grid.

A named strategy must be one the settings describe (``config.strategy_names``: a
``[retrieve.<name>]`` section, or one of ``[select] strategies``): the config says what exists,
so this stage never asks the ``retrieve`` registry.

A fixed plan has ``epsilon = 0``: its one plan has probability 1, and ``update`` learns nothing.

>>> FixedPolicy.from_name("lexical@50+dense@25").plan(None).depths
{'lexical': 50, 'dense': 25}
>>> parse_plan("hybrid@25")
{'lexical': 25, 'dense': 25}
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ltrr.config import Config, section_params, strategy_names
from ltrr.errors import ConfigError, StorageError, UnknownStrategyError
from ltrr.select import SelectParams, read_manifest, write_policy
from ltrr.select.base import Depths, Plan, PlanFeedback, PlanRequest

HYBRID_STRATEGIES: tuple[str, ...] = ("lexical", "dense")
HYBRID_DEPTH = 100
_PART = re.compile(r"^([a-z][a-z0-9_]*)@([0-9]+)$")
_FORMS = "'union', 'hybrid', 'hybrid@D' or 'strategy@D+strategy@D...' (D a positive depth)"


def _depth(text: str, name: str) -> int:
    depth = int(text)
    if depth < 1:
        raise ConfigError(f"policy {name!r}: depth must be >= 1, got {depth}")
    return depth


def parse_plan(
    name: str, select: SelectParams | None = None, known: Sequence[str] | None = None
) -> dict[str, int]:
    """The depths of the fixed plan called ``name``.

    ``select`` (``[select]``, the defaults when ``None``) supplies ``union``'s depths; a plan may
    name ``known`` strategies (default: the defaults' ``strategy_names``) and those of
    ``select``.

    Raises
    ------
    ConfigError
        If ``name`` is none of the fixed-plan forms, names a strategy twice or a depth < 1.
    UnknownStrategyError
        If it names a strategy neither ``known`` nor in ``select.strategies``.
    """
    select = select or SelectParams()
    text = name.strip()
    if text == "union":
        return dict.fromkeys(select.strategies, max(select.depths))
    if text == "hybrid":
        return dict.fromkeys(HYBRID_STRATEGIES, HYBRID_DEPTH)
    if text.startswith("hybrid@") and _PART.match(text):
        return dict.fromkeys(HYBRID_STRATEGIES, _depth(text.partition("@")[2], name))
    depths: dict[str, int] = {}
    for part in text.split("+"):
        match = _PART.match(part.strip())
        if match is None:
            raise ConfigError(f"unknown policy {name!r}; allowed: 'ltrr', {_FORMS}")
        strategy, depth = match.group(1), _depth(match.group(2), name)
        allowed_names = dict.fromkeys((*(known or strategy_names(None)), *select.strategies))
        if strategy not in allowed_names:
            allowed = ", ".join(allowed_names)
            raise UnknownStrategyError(
                f"policy {name!r}: unknown strategy {strategy!r}; allowed: {allowed}"
            )
        if strategy in depths:
            raise ConfigError(f"policy {name!r} names strategy {strategy!r} twice")
        depths[strategy] = depth
    return depths


def plan_name(depths: Depths) -> str:
    """The canonical name of a fixed plan: ``"lexical@50+dense@25"`` (strategies that run)."""
    return "+".join(f"{s}@{d}" for s, d in depths.items() if d > 0)


def manual_plan(strategies: Sequence[str], depth: int, open_names: Sequence[str]) -> Plan:
    """The plan of a search that names its strategies (each at ``depth``), bypassing the policy
    (debugging, evaluation); ``UnknownStrategyError`` for one that is not open."""
    unknown = [s for s in strategies if s not in open_names]
    if unknown:
        open_ = ", ".join(open_names)
        raise UnknownStrategyError(f"strategy {unknown[0]!r} is not open; open: {open_}")
    fixed = dict.fromkeys(strategies, depth)
    return Plan(depths=fixed, greedy=fixed, policy="manual")


def fixed_plan_names(
    strategies: Sequence[str], depths: Sequence[int], max_strategies: int = 3
) -> list[str]:
    """Every plan of 1 to ``max_strategies`` strategies, each at every depth of the grid.

    EVALUATION.md section 3's fixed plans: with 5 strategies and 5 depths, 25 singles,
    250 pairs and 1,250 triples.
    """
    names = []
    for size in range(1, max_strategies + 1):
        for group in itertools.combinations(strategies, size):
            for combo in itertools.product(depths, repeat=size):
                names.append(plan_name(dict(zip(group, combo, strict=True))))
    return names


class FixedPolicy:
    """Runs the same strategies at the same depths for every request."""

    def __init__(self, name: str, depths: Mapping[str, int]) -> None:
        self.name = name
        self.depths: dict[str, int] = {s: int(d) for s, d in depths.items() if d > 0}
        if not self.depths:
            raise ConfigError(f"policy {name!r} runs no strategy")

    @classmethod
    def from_name(cls, name: str, config: Config | None = None) -> FixedPolicy:
        """The fixed plan called ``name`` (see the module docstring for the forms)."""
        select = section_params(config, "select", SelectParams)
        return cls(name.strip(), parse_plan(name, select, strategy_names(config)))

    def plan(self, request: PlanRequest | None) -> Plan:
        """The same plan for every request, with probability 1."""
        depths = dict(self.depths)
        return Plan(depths=depths, greedy=dict(depths), epsilon=0.0, policy=self.name)

    def update(self, feedback: PlanFeedback) -> None:
        """A fixed plan learns nothing."""
        return None

    def save(self, directory: Path) -> None:
        write_policy(directory, self.name, {"depths": self.depths}, {}, {})

    @classmethod
    def load(cls, directory: Path, config: Config | None = None) -> FixedPolicy:
        manifest = read_manifest(directory)
        depths = manifest.get("params", {}).get("depths")
        if not isinstance(depths, dict) or not depths:
            raise StorageError(
                f"{directory}: saved policy {manifest.get('policy')!r} has no depths"
            )
        return cls(str(manifest["policy"]), {str(s): int(d) for s, d in depths.items()})

    def __repr__(self) -> str:
        return f"FixedPolicy({self.name!r}, {self.depths})"
