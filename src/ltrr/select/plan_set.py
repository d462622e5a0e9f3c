"""The candidate plans of a bandit over whole plans: a finite list on the (strategy, depth) grid.

ltrr's own policy builds a plan arm by arm (``select.overlap.allocate``); a bandit whose
actions are whole plans (the Vowpal Wabbit peer, ``select.vw``) needs them listed. The list
follows the same rules as ltrr's planner: depths on the ``[select]`` grid, at most ``budget``
candidates (the sum of depths), and the anchors (``[select.ltrr] anchors``, the strategies the
unsupervised fusion ranks) in every plan. Every plan of the grid would be too many (1,053 with
the defaults, 20 ms per VW prediction here), so the list holds:

- the anchors at every combination of grid depths (``hybrid@D`` among them);
- each of those plus one other strategy at every grid depth;
- each of those plus two or more other strategies at one common grid depth.

With the defaults (five strategies, anchors lexical and dense, depths 10 to 200, budget 200)
that is 327 plans, every plan ltrr's planner can make with at most one non-anchor strategy
among them. Without anchors the first group is empty and the others start from nothing: every
single strategy at every depth, and sets of strategies at a common depth. Plans come deepest
first (then by name), so a tie between plans goes to the one that finds most.

>>> [plan_name(p) for p in candidate_plans(("lexical", "dense"), (10, 20), 30, ())]
['dense@10+lexical@10', 'dense@20', 'lexical@20', 'dense@10', 'lexical@10']
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ltrr.select.base import Depths

#: A plan as a hashable key: (strategy, depth) pairs of the strategies that run, sorted.
PlanKey = tuple[tuple[str, int], ...]


def plan_key(depths: Depths) -> PlanKey:
    """The hashable key of a plan: the same for ``{"a": 10, "b": 0}`` and ``{"a": 10}``."""
    return tuple(sorted((s, int(d)) for s, d in depths.items() if d > 0))


def plan_name(depths: Depths) -> str:
    """``"dense@10+lexical@25"``: the key's strategies in order, as fixed plans are named."""
    return "+".join(f"{s}@{d}" for s, d in plan_key(depths))


def candidate_plans(
    strategies: Sequence[str], grid: Sequence[int], budget: int, anchors: Sequence[str]
) -> tuple[dict[str, int], ...]:
    """The candidate plans of the module docstring, deepest first; never empty.

    When no plan fits ``budget``, the cheapest ones are returned (the anchors at the
    shallowest depth), as ltrr's planner runs them whatever the budget.
    """
    anchored = [s for s in strategies if s in anchors]
    others = [s for s in strategies if s not in anchors]
    bases = [
        dict(zip(anchored, ds, strict=True)) for ds in itertools.product(grid, repeat=len(anchored))
    ]
    plans: dict[PlanKey, dict[str, int]] = {}
    for base in bases:
        extras = [{s: d} for s in others for d in grid]
        extras += [
            dict.fromkeys(group, d)
            for size in range(2, len(others) + 1)
            for group in itertools.combinations(others, size)
            for d in grid
        ]
        for plan in (base, *({**base, **extra} for extra in extras)):
            if plan:
                plans.setdefault(plan_key(plan), plan)
    ordered = sorted(plans.values(), key=lambda p: (-sum(p.values()), plan_name(p)))
    within = [p for p in ordered if sum(p.values()) <= budget]
    if within:
        return tuple(within)
    cheapest = min(sum(p.values()) for p in ordered)
    return tuple(p for p in ordered if sum(p.values()) == cheapest)
