"""Versioned ranker models in the data directory: every candidate kept, one served.

``DATA/models/v0001/`` holds a model (``model.txt``, LightGBM's text format) and its
``manifest.json``: the feature set it reads (fingerprint and names), how it was trained
(debias, groups, the log position it saw) and its validation against the model served at
the time, accepted or refused. ``DATA/models/current.json`` names the served version and the
history of served versions, so ``rollback`` restores exactly the previous one (the same file,
so the same scores). Every file is written to a temporary name and renamed into place: a
reader sees the old pointer or the new one, never half of either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ltrr.errors import StorageError
from ltrr.rank.lambdamart import RankModel
from ltrr.storage.folder import (
    check_files,
    checksums,
    new_manifest,
    read_manifest,
    replace_file,
    staged,
    write_manifest,
)

MODELS_DIR = "models"
CURRENT = "current.json"
MODEL_FILE = "model.txt"
FORMAT = "ltrr-lambdamart"
FORMAT_VERSION = 1
_VERSION = re.compile(r"^v(\d{4,})$")
_REMEDY = "train a new one with `ltrr train`"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One stored version: its name, whether it was accepted, and its manifest."""

    version: str
    accepted: bool
    manifest: dict[str, Any]


class ModelRegistry:
    """The model versions under ``root`` (``DATA/models``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, data_path: Path) -> ModelRegistry:
        return cls(data_path / MODELS_DIR)

    def versions(self) -> list[ModelInfo]:
        """Every stored version, oldest first."""
        if not self.root.is_dir():
            return []
        names = sorted(p.name for p in self.root.iterdir() if _VERSION.match(p.name))
        out = []
        for name in names:
            manifest = self._manifest(name)
            out.append(ModelInfo(name, bool(manifest.get("accepted")), manifest))
        return out

    def history(self) -> list[str]:
        """The served versions, oldest first; the last is the current one."""
        path = self.root / CURRENT
        if not path.is_file():
            return []
        try:
            history = orjson.loads(path.read_bytes())["history"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StorageError(f"{path}: unreadable ({exc}); {_REMEDY}") from exc
        return [str(v) for v in history]

    def current(self) -> str | None:
        history = self.history()
        return history[-1] if history else None

    def add(self, model: RankModel, fields: dict[str, Any], *, accepted: bool) -> str:
        """Store ``model`` as the next version with the manifest ``fields``; its name."""
        existing = [int(m.group(1)) for p in self._dirs() if (m := _VERSION.match(p.name))]
        version = f"v{max(existing, default=0) + 1:04d}"
        with staged(self.root / version) as tmp:
            (tmp / MODEL_FILE).write_text(model.to_string())
            manifest = new_manifest(
                FORMAT, FORMAT_VERSION, model_version=version, accepted=accepted,
                fingerprint=model.fingerprint, features=list(model.names), **fields,
                sha256=checksums(tmp, [MODEL_FILE]),
            )  # fmt: skip
            write_manifest(tmp, manifest)
        if accepted:
            self._write_history([*self.history(), version])
        return version

    def load(self, version: str) -> RankModel:
        """The model of ``version``; ``StorageError`` when it is missing or damaged."""
        manifest = self._manifest(version)
        check_files(self.root / version, manifest, _REMEDY)  # missing or altered: StorageError
        path = self.root / version / MODEL_FILE
        return RankModel.from_string(
            path.read_text(), manifest["features"], str(manifest["fingerprint"])
        )

    def rollback(self) -> str | None:
        """Serve the version served before the current one (None: back to the fallback)."""
        history = self.history()
        if not history:
            raise StorageError(f"{self.root}: no model is served, nothing to roll back")
        self._write_history(history[:-1])
        return history[-2] if len(history) > 1 else None

    def _manifest(self, version: str) -> dict[str, Any]:
        return read_manifest(
            self.root / version, FORMAT, FORMAT_VERSION, holds="ranker model", remedy=_REMEDY
        )

    def _dirs(self) -> list[Path]:
        return list(self.root.iterdir()) if self.root.is_dir() else []

    def _write_history(self, history: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pointer = {"current": history[-1] if history else None, "history": history}
        replace_file(self.root / CURRENT, orjson.dumps(pointer, option=orjson.OPT_INDENT_2))
