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
from ltrr.rank.training import check_debias
from ltrr.select import SelectParams, make_policy
from ltrr.select.fixed import FixedPolicy, fixed_plan_names

LEARNED, ORACLE, HYBRID, UNION = "ltrr", "oracle", "hybrid", "union"
LAMBDAMART = "lambdamart"


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A requested policy: ``learned`` (simulated), ``fixed`` (set operations) or ``oracle``."""

    name: str
    kind: Literal["learned", "fixed", "oracle"]
    depths: Mapping[str, int] = field(default_factory=dict)
    #: A learned policy run with the LambdaMART ranker (``<policy>+lambdamart[:<debias>]``):
    #: the policy's name, and the debias mode ("" = the config's).
    policy: str = ""
    lambdamart: bool = False
    debias: str = ""

    @property
    def policy_name(self) -> str:
        return self.policy or self.name


def split_ranker(name: str) -> tuple[str, bool, str]:
    """``"ltrr+lambdamart:ipw"`` -> ``("ltrr", True, "ipw")``; any other name (a fixed plan
    such as ``lexical@50+dense@25`` too) -> ``(name, False, "")``."""
    base, marker, rest = name.partition(f"+{LAMBDAMART}")
    if not marker or (rest and not rest.startswith(":")):
        return name, False, ""
    debias = rest[1:]
    if debias:
        check_debias(debias)
    return base, True, debias


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
        base, lambdamart, debias = split_ranker(name)
        try:
            policy = make_policy(base, config, seed=0)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; simulate also accepts 'oracle'") from None
        if lambdamart:
            if isinstance(policy, FixedPolicy):
                raise ConfigError(f"{name!r}: the LambdaMART ranker learns; {base!r} is fixed")
            specs.append(PolicySpec(name, "learned", policy=base, lambdamart=True, debias=debias))
        elif isinstance(policy, FixedPolicy):
            specs.append(PolicySpec(name, "fixed", dict(policy.depths)))
        else:
            specs.append(PolicySpec(name, "learned"))
    return specs
