"""``[simulate]``: the parameters of ``ltrr simulate`` (EVALUATION.md section 3).

Everything that shapes simulated traffic lives here, so a run is reproduced from the config,
the command line and the seeds alone. Click-model tables are not parameters: they are the
published ones (``simulate.clicks``); the position-based models' examination exponent ``eta``
is, since the literature varies it to set how strong the position bias is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError

#: Results shown per search (EVALUATION.md: top 10), so ``ndcg@10`` and ``mrr@10``.
SHOWN = 10


@dataclass(frozen=True, slots=True)
class SimulateParams:
    """``[simulate]`` (see the module docstring of ``simulate.run`` for the protocol)."""

    n_searches: int = 20_000
    n_seeds: int = 3
    seed: int = 0
    window: int = 5000
    found_elsewhere: float = 0.3
    eta: float = 1.0
    traffic_split: str = "train"
    unseen_split: str = "test"
    traffic_share: float = 0.8
    split_seed: int = 0
    zipf_exponent: float = 1.0
    n_users: int = 1000
    user_zipf_exponent: float = 1.0
    seconds_per_search: float = 1.0
    session_gap_s: float = 1800.0
    segments: tuple[str, ...] = ("free", "premium", "family", "student")
    locales: tuple[str, ...] = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "pt-BR", "ja-JP")
    devices: tuple[str, ...] = ("mobile", "desktop", "tablet", "tv")
    device_switch: float = 0.2
    taste_values: int = 32
    taste_per_user: int = 3
    rrf_k: int = 60
    max_plan_strategies: int = 3
    safety_window: int = 500
    curve_window: int = 500
    n_bootstrap: int = 2000
    bootstrap_seed: int = 0
    ope_replications: int = 0
    ope_searches: int = 10_000
    ope_targets: tuple[str, ...] = ("lexical@50", "hybrid@25")
    ope_bootstrap: int = 400

    def __post_init__(self) -> None:
        positive = (
            "n_searches", "n_seeds", "window", "n_users", "max_plan_strategies",
            "safety_window", "curve_window", "n_bootstrap", "taste_per_user", "ope_searches",
            "ope_bootstrap",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"simulate.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("found_elsewhere", "device_switch"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"simulate.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.traffic_share < 1.0:
            raise ConfigError(f"simulate.traffic_share must be in (0, 1), got {self.traffic_share}")
        for name in ("zipf_exponent", "user_zipf_exponent", "session_gap_s", "rrf_k"):
            if getattr(self, name) < 0:
                raise ConfigError(f"simulate.{name} must be >= 0, got {getattr(self, name)}")
        if not self.eta > 0:
            raise ConfigError(
                f"simulate.eta (the position-based click models' examination exponent) must be "
                f"> 0, got {self.eta}"
            )
        if self.seconds_per_search <= 0:
            raise ConfigError(
                f"simulate.seconds_per_search must be > 0, got {self.seconds_per_search}"
            )
        if self.taste_values < 0:
            raise ConfigError(f"simulate.taste_values must be >= 0, got {self.taste_values}")
        for name in ("segments", "locales", "devices"):
            if not getattr(self, name):
                raise ConfigError(f"simulate.{name} must list at least one value")

    @property
    def seeds(self) -> list[int]:
        """The simulation seeds: ``seed, seed + 1, ..., seed + n_seeds - 1``."""
        return [self.seed + i for i in range(self.n_seeds)]


def simulate_params(config: Config | None) -> SimulateParams:
    """``[simulate]`` of ``config``, or the defaults while that section is absent."""
    return section_params(config, "simulate", SimulateParams)
