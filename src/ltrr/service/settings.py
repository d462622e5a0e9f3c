"""``[service]``: where the service listens, its limits and its API keys."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError
from ltrr.service.limits import MAX_BATCH, MAX_OFFSET

SEARCH_KEYS_ENV = "LTRR_SEARCH_KEYS"
ADMIN_KEYS_ENV = "LTRR_ADMIN_KEYS"


@dataclass(frozen=True, slots=True)
class ServiceParams:
    """``[service]`` (see defaults.toml)."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 2_097_152
    max_batch: int = 1000
    max_offset: int = 1000
    follow_interval_ms: float = 50.0
    snapshot_every: int = 10_000
    policy_publish_ms: float = 1000.0
    opentelemetry: bool = False
    fast_path: bool = True
    search_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch", "max_offset", "snapshot_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"service.{name} must be >= 1, got {getattr(self, name)}")
        if not self.policy_publish_ms >= 0:
            raise ConfigError(
                f"service.policy_publish_ms must be >= 0, got {self.policy_publish_ms}"
            )
        if not self.follow_interval_ms > 0:
            raise ConfigError(
                f"service.follow_interval_ms must be > 0, got {self.follow_interval_ms}"
            )
        for name, ceiling in (("max_batch", MAX_BATCH), ("max_offset", MAX_OFFSET)):
            if getattr(self, name) > ceiling:
                raise ConfigError(
                    f"service.{name} must be <= {ceiling} (the API's limit), got "
                    f"{getattr(self, name)}"
                )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"service.port must be in [0, 65535], got {self.port}")
        short = [k for k in (*self.search_keys, *self.admin_keys) if len(k) < 16]
        if short:
            raise ConfigError("API keys must be at least 16 characters long")

    @property
    def open(self) -> bool:
        """No key configured: anyone who reaches the port may do anything."""
        return not self.search_keys and not self.admin_keys


def service_params(config: Config | None, environ: dict[str, str] | None = None) -> ServiceParams:
    """``[service]`` with the keys of ``$LTRR_SEARCH_KEYS`` / ``$LTRR_ADMIN_KEYS`` added."""
    env = os.environ if environ is None else environ
    params = section_params(config, "service", ServiceParams)

    def keys(configured: tuple[str, ...], variable: str) -> tuple[str, ...]:
        extra = [k.strip() for k in env.get(variable, "").split(",") if k.strip()]
        return tuple(dict.fromkeys((*configured, *extra)))

    return replace(  # every other field as configured
        params,
        search_keys=keys(params.search_keys, SEARCH_KEYS_ENV),
        admin_keys=keys(params.admin_keys, ADMIN_KEYS_ENV),
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(params: ServiceParams, host: str) -> None:
    """Refuse to serve an open (keyless) service on a non-loopback address."""
    if params.open and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} with no API key: set [service] search_keys / "
            f"admin_keys or ${SEARCH_KEYS_ENV} / ${ADMIN_KEYS_ENV}, or bind to 127.0.0.1"
        )
