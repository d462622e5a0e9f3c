"""The policies a simulation reports: learned ones run live, fixed plans by set operations.

Kept apart from the driver (``simulate.run``) so that the report, the comparisons and the
driver share the names and the spec without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.select import SelectParams, make_policy
from ltrr.select.fixed import FixedPolicy, fixed_plan_names

LEARNED, ORACLE, HYBRID, UNION = "ltrr", "oracle", "hybrid", "union"


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A requested policy: ``learned`` (simulated), ``fixed`` (set operations) or ``oracle``."""

    name: str
    kind: Literal["learned", "fixed", "oracle"]
    depths: Mapping[str, int] = field(default_factory=dict)


def resolve_policies(
    requested: Sequence[str] | None, select: SelectParams, config: Config | None, n_parts: int
) -> list[PolicySpec]:
    """The policies to report, in order; default: ``ltrr``, ``hybrid``, ``union``,
    ``oracle`` and every fixed plan of up to ``n_parts`` strategies."""
    names = list(dict.fromkeys(n.strip() for n in (requested or ()) if n.strip()))
    if not names:
        names = [LEARNED, HYBRID, UNION, ORACLE]
        names += fixed_plan_names(select.strategies, select.depths, n_parts)
    specs = []
    for name in names:
        if name == ORACLE:
            specs.append(PolicySpec(name, "oracle"))
            continue
        try:
            policy = make_policy(name, config, seed=0)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; simulate also accepts 'oracle'") from None
        if isinstance(policy, FixedPolicy):
            specs.append(PolicySpec(name, "fixed", dict(policy.depths)))
        else:
            specs.append(PolicySpec(name, "learned"))
    return specs
