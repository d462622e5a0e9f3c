"""The one door for heavy optional dependencies: import them late, fail with an install hint.

A process that never embeds text never loads ONNX Runtime, and one that never exports the
model never loads torch; when a needed package is missing, the error says what to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from ltrr.errors import MissingDependencyError


def require(module: str, purpose: str, hint: str) -> Any:
    """Import ``module`` or raise ``MissingDependencyError`` naming ``purpose`` and ``hint``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{purpose} needs {module!r}: {hint}") from exc
