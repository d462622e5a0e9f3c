"""``[select.ltrr]``: the parameters of the learned policy ``ltrr`` (``select.bandit``), checked
once here. The Vowpal Wabbit peer (``select.vw``) reads its objective from the same section, so
both policies price candidates and time alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltrr.errors import ConfigError

GREEDY_MODES: tuple[str, ...] = ("thompson", "mean")


@dataclass(frozen=True, slots=True)
class BanditParams:
    """``[select.ltrr]``: the learned policy's exploration, priors and selection."""

    seed: int = 0
    epsilon: float = 0.1
    explore_off: float = 0.2
    greedy: str = "mean"
    prior_precision: float = 1.0
    key_buckets: int = 32768
    key_prior_strength: float = 2.0
    key_max_trials: float = 50.0
    overlap_window: int = 4096
    overlap_prior_strength: float = 5.0
    min_gain_per_candidate: float = 0.0001
    elsewhere_weight: float = 3.0
    latency_ms: tuple[float, ...] = ()
    latency_weight: float = 0.001
    budget_ms: float = 0.0
    cost_window: int = 1000
    history_strategies: tuple[str, ...] = ("memory",)
    anchors: tuple[str, ...] = ("lexical", "dense")
    release_gain: float = 0.0
    cheap_prices: tuple[float, ...] = ()
    found_tolerance: float = 0.01
    miss_ratio: float = 0.0
    cheap_release: bool = False
    price_lengths: bool = False
    anchor_prior_hazard: float = 0.5
    prior_hazard: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.epsilon <= 1.0:
            raise ConfigError(f"select.ltrr.epsilon must be in (0, 1], got {self.epsilon}")
        if not 0.0 <= self.explore_off < 1.0:
            raise ConfigError(f"select.ltrr.explore_off must be in [0, 1), got {self.explore_off}")
        if self.greedy not in GREEDY_MODES:
            raise ConfigError(
                f"select.ltrr.greedy must be one of {', '.join(GREEDY_MODES)}, got {self.greedy!r}"
            )
        for name in ("anchor_prior_hazard", "prior_hazard"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(
                    f"select.ltrr.{name} must be in (0, 1), got {getattr(self, name)}"
                )
        names = ("prior_precision", "key_max_trials", "overlap_prior_strength", "elsewhere_weight")
        for name in names:
            if getattr(self, name) <= 0:
                raise ConfigError(f"select.ltrr.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.release_gain < 1.0:
            raise ConfigError(
                f"select.ltrr.release_gain must be in [0, 1), got {self.release_gain}"
            )
        prices = self.cheap_prices
        if any(p <= 0 for p in prices) or list(prices) != sorted(prices, reverse=True):
            raise ConfigError(
                f"select.ltrr.cheap_prices must be positive and descending, got {list(prices)}"
            )
        if not 0.0 <= self.found_tolerance < 1.0:
            raise ConfigError(
                f"select.ltrr.found_tolerance must be in [0, 1), got {self.found_tolerance}"
            )
        if self.latency_weight < 0 or self.budget_ms < 0:
            raise ConfigError("select.ltrr.latency_weight and budget_ms must be >= 0")
        for name in ("key_buckets", "overlap_window", "cost_window"):
            if getattr(self, name) < 1:
                raise ConfigError(f"select.ltrr.{name} must be >= 1, got {getattr(self, name)}")
