"""One TOML config, with documented defaults in ``defaults.toml``.

Parameters are immutable (frozen dataclasses) and kept apart from learned state. A user file
overrides any subset of the defaults; unknown sections or keys and wrongly typed values raise
``ConfigError`` naming the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ltrr.errors import ConfigError

CONFIG_ENV = "LTRR_CONFIG"
DATA_CONFIG_NAME = "ltrr.toml"


@dataclass(frozen=True, slots=True)
class CatalogConfig:
    max_id_chars: int
    max_title_chars: int
    max_text_chars: int
    max_attribute_values: int
    max_related: int
    default_type: str


@dataclass(frozen=True, slots=True)
class IngestConfig:
    batch_size: int
    max_errors_shown: int


@dataclass(frozen=True, slots=True)
class StorageConfig:
    busy_timeout_ms: int
    synchronous: str


@dataclass(frozen=True, slots=True)
class Config:
    catalog: CatalogConfig
    ingest: IngestConfig
    storage: StorageConfig


_SECTIONS: dict[str, type[Any]] = {
    "catalog": CatalogConfig,
    "ingest": IngestConfig,
    "storage": StorageConfig,
}
_T = TypeVar("_T")


def _defaults() -> dict[str, Any]:
    text = resources.files("ltrr").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _merge(base: dict[str, Any], override: dict[str, Any], origin: str) -> dict[str, Any]:
    merged = {name: dict(section) for name, section in base.items()}
    for name, section in override.items():
        if name not in merged:
            raise ConfigError(
                f"{origin}: unknown section [{name}]; allowed: {', '.join(sorted(merged))}"
            )
        if not isinstance(section, dict):
            raise ConfigError(f"{origin}: [{name}] must be a table")
        for key, value in section.items():
            if key not in merged[name]:
                allowed = ", ".join(sorted(merged[name]))
                raise ConfigError(f"{origin}: unknown key {name}.{key}; allowed: {allowed}")
            default = merged[name][key]
            ok = isinstance(value, type(default)) or (
                isinstance(default, float) and isinstance(value, int)
            )
            if not ok or isinstance(value, bool) != isinstance(default, bool):
                raise ConfigError(
                    f"{origin}: {name}.{key} must be {type(default).__name__}, got {value!r}"
                )
            merged[name][key] = value
    return merged


def _build(cls: type[_T], values: dict[str, Any]) -> _T:
    return cls(**{f.name: values[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def load_config(path: Path | None = None, data_dir: Path | None = None) -> Config:
    """The defaults overridden by ``path``, else ``$LTRR_CONFIG``, else ``DATA/ltrr.toml``."""
    values = _defaults()
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is None and data_dir is not None and (data_dir / DATA_CONFIG_NAME).is_file():
        path = data_dir / DATA_CONFIG_NAME
    if path is not None:
        values = _merge(values, _read(path), str(path))
    config = Config(**{name: _build(cls, values[name]) for name, cls in _SECTIONS.items()})
    _validate(config)
    return config


def _validate(config: Config) -> None:
    for section in (config.catalog, config.ingest, config.storage):
        for f in fields(section):
            value = getattr(section, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"{f.name} must be positive, got {value}")
    allowed_sync = ("OFF", "NORMAL", "FULL", "EXTRA")
    if config.storage.synchronous not in allowed_sync:
        raise ConfigError(
            f"storage.synchronous must be one of {', '.join(allowed_sync)}, "
            f"got {config.storage.synchronous!r}"
        )
