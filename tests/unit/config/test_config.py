"""Settings: documented defaults, overrides, and clear errors for unknown or mistyped keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.config import load_config
from ltrr.errors import ConfigError


def test_defaults_load() -> None:
    config = load_config()
    assert config.catalog.max_title_chars == 2000
    assert config.storage.synchronous == "FULL"


def test_override_from_file_and_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LTRR_CONFIG", raising=False)
    (tmp_path / "ltrr.toml").write_text("[ingest]\nbatch_size = 7\n")
    assert load_config(data_dir=tmp_path).ingest.batch_size == 7
    other = tmp_path / "other.toml"
    other.write_text('[catalog]\ndefault_type = "song"\n')
    config = load_config(other, data_dir=tmp_path)
    assert (config.catalog.default_type, config.ingest.batch_size) == ("song", 5000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[catlog]\nx = 1\n", r"unknown key catlog; allowed here: benchmark, catalog, evaluate, "),
        ("[ingest]\nbatchsize = 1\n", "unknown key ingest.batchsize; allowed here: batch_size, "),
        ('[ingest]\nbatch_size = "big"\n', "ingest.batch_size must be int, got 'big'"),
        ("[ingest]\nbatch_size = true\n", "ingest.batch_size must be int, got True"),
        ("[ingest]\nbatch_size = 0\n", "batch_size must be positive, got 0"),
        ('[storage]\nsynchronous = "FAST"\n', "synchronous must be one of OFF, NORMAL"),
        ("[ingest\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
