"""One TOML config, with documented defaults in ``defaults.toml``.

Parameters are immutable (frozen dataclasses) and kept apart from learned state. A user file
overrides any subset of the defaults; unknown sections or keys and wrongly typed values raise
``ConfigError`` naming the key and what is allowed.

Each component owns a frozen dataclass of its parameters with the same defaults as its
``defaults.toml`` section (a test keeps the two equal) and reads it with ``Config.params``, so
adding a component never touches this module.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ltrr import __version__
from ltrr.errors import ConfigError

CONFIG_ENV = "LTRR_CONFIG"
DATA_CONFIG_NAME = "ltrr.toml"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CatalogConfig:
    max_id_chars: int = 512
    max_title_chars: int = 2000
    max_text_chars: int = 200_000
    max_attribute_values: int = 1000
    max_related: int = 10_000
    default_type: str = "document"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    batch_size: int = 5000
    max_errors_shown: int = 20


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``[storage]``: the data directory's database; ``catalog_url`` (``""``: that database)
    may put the catalog on PostgreSQL instead (``storage.catalog_url``, ``$LTRR_CATALOG_URL``);
    ``state_url`` names the Redis that replicas of one log share (``storage.shared``)."""

    busy_timeout_ms: int = 5000
    synchronous: str = "FULL"
    catalog_url: str = ""
    state_url: str = ""

    def __post_init__(self) -> None:
        allowed = ("OFF", "NORMAL", "FULL", "EXTRA")
        if self.synchronous not in allowed:
            raise ConfigError(
                f"storage.synchronous must be one of {', '.join(allowed)}, got {self.synchronous!r}"
            )
        scheme = self.catalog_url.split("://", 1)[0] if "://" in self.catalog_url else None
        if self.catalog_url and scheme not in ("postgresql", "postgres"):
            shown = self.catalog_url.rsplit("@", 1)[-1]  # never a password
            raise ConfigError(
                "storage.catalog_url must be empty (the data directory's SQLite database) or "
                f"postgresql://[user@]host[:port]/database[?schema=NAME]; got {shown!r}"
            )
        scheme = self.state_url.split("://", 1)[0] if "://" in self.state_url else None
        if self.state_url and scheme not in ("redis", "rediss", "unix"):
            shown = self.state_url.rsplit("@", 1)[-1]
            raise ConfigError(
                "storage.state_url must be empty (no shared state) or "
                f"redis://[:password@]host[:port][/db]; got {shown!r}"
            )


def storage_url(
    config: Config, name: str, env: str, environ: Mapping[str, str] | None = None
) -> str:
    """``[storage] <name>`` (a URL setting), overridden by the environment variable ``env`` when
    it is set and not empty; an overriding URL is checked like the setting, its error naming
    the variable."""
    url = (os.environ if environ is None else environ).get(env, "").strip()
    if not url:
        return str(getattr(config.storage, name))
    try:
        changes: dict[str, Any] = {name: url}
        replace(StorageConfig(), **changes)  # its checks, on the overriding URL
    except ConfigError as exc:
        raise ConfigError(f"${env}: {exc}") from None
    return url


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting: ``values`` is the merged TOML, nested as in the file."""

    values: Mapping[str, Any]

    def section(self, dotted: str) -> Mapping[str, Any]:
        node: Any = self.values
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"no section [{dotted}] in the settings")
            node = node[part]
        if not isinstance(node, Mapping):
            raise ConfigError(f"[{dotted}] is a value, not a section")
        return node

    def replaced(self, dotted: str, **changes: Any) -> Config:
        """A copy with ``changes`` set in section ``dotted`` (which must exist)."""
        self.section(dotted)
        values: dict[str, Any] = dict(self.values)
        node = values
        parts = dotted.split(".")
        for part in parts[:-1]:
            node[part] = dict(node[part])
            node = node[part]
        node[parts[-1]] = {**node[parts[-1]], **changes}
        return Config(values)

    def params(self, dotted: str, cls: type[_T]) -> _T:
        """Section ``dotted`` as the frozen dataclass ``cls`` (its fields are the keys)."""
        section = self.section(dotted)
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in section.items()}
        missing = names - set(kwargs)
        if missing:
            raise ConfigError(f"[{dotted}] lacks {', '.join(sorted(missing))}")
        result = cls(**{k: kwargs[k] for k in names})
        for f in fields(cls):  # type: ignore[arg-type]
            value = getattr(result, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"{dotted}.{f.name} must be >= 0, got {value}")
        return result

    @property
    def catalog(self) -> CatalogConfig:
        return self.params("catalog", CatalogConfig)

    @property
    def ingest(self) -> IngestConfig:
        return self.params("ingest", IngestConfig)

    @property
    def storage(self) -> StorageConfig:
        return self.params("storage", StorageConfig)


def section_params(config: Config | None, dotted: str, cls: type[_T]) -> _T:
    """``config.params(dotted, cls)``, or ``cls()`` when there is no config or no such section.

    Settings loaded by ``load_config`` hold every section of ``defaults.toml``, so the fallback
    serves hand-made ``Config`` objects (tests, library callers) that carry a few sections.
    """
    if config is None:
        return cls()
    try:
        config.section(dotted)
    except ConfigError:
        return cls()
    return config.params(dotted, cls)


def strategy_names(config: Config | None) -> tuple[str, ...]:
    """Every strategy the settings describe (a ``[retrieve.<name>]`` section), in file order.

    Stages that plan or name strategies (``select``) learn them here rather than from the
    retrieve registry, so the policy never depends on the retrievers' code. Hand-made configs
    without a ``[retrieve]`` section get the defaults' names.
    """
    section = config.values.get("retrieve") if config is not None else None
    if not isinstance(section, Mapping) or not section:
        section = defaults()["retrieve"]
    return tuple(name for name, value in section.items() if isinstance(value, Mapping))


def settings_blob(config: Config, sections: Iterable[str]) -> bytes:
    """``sections`` of ``config`` and the ltrr version as canonical JSON: what fingerprints
    hash, so a workspace or snapshot made under other settings (or another ltrr) is not used."""
    settings = {name: config.values.get(name) for name in sections}
    return orjson.dumps({"ltrr": __version__, **settings}, option=orjson.OPT_SORT_KEYS)


def defaults() -> dict[str, Any]:
    text = resources.files("ltrr").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _same_type(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def _merge(
    base: dict[str, Any], override: Mapping[str, Any], origin: str, prefix: str = ""
) -> None:
    for key, value in override.items():
        name = f"{prefix}{key}"
        if key not in base:
            allowed = ", ".join(sorted(base))
            raise ConfigError(f"{origin}: unknown key {name}; allowed here: {allowed}")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: [{name}] must be a table")
            _merge(default, value, origin, f"{name}.")
        elif not _same_type(value, default):
            raise ConfigError(f"{origin}: {name} must be {type(default).__name__}, got {value!r}")
        else:
            base[key] = float(value) if isinstance(default, float) else value


def load_config(path: Path | None = None, data_dir: Path | None = None) -> Config:
    """The defaults overridden by ``path``, else ``$LTRR_CONFIG``, else ``DATA/ltrr.toml``."""
    values = defaults()
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is None and data_dir is not None and (data_dir / DATA_CONFIG_NAME).is_file():
        path = data_dir / DATA_CONFIG_NAME
    if path is not None:
        _merge(values, _read(path), str(path))
    config = Config(values)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    for section in (config.catalog, config.ingest, config.storage):
        for f in fields(section):
            value = getattr(section, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"{f.name} must be positive, got {value}")
