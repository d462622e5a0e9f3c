"""Exceptions that reach users.

Every error names the bad value and, where it comes from a file, the file, line and field, so
the CLI and the HTTP service can show one clear message instead of a traceback. Each class also
subclasses the builtin a Python caller would expect (``ValueError``, ``OSError``...).
"""

from __future__ import annotations


class LtrrError(Exception):
    """Base of every error ltrr raises on purpose."""


class ConfigError(LtrrError, ValueError):
    """A setting is unknown, of the wrong type or out of range."""


class CatalogError(LtrrError, ValueError):
    """A catalog record is malformed.

    Parameters
    ----------
    reason
        What is wrong, naming the bad value where that helps.
    path, line, field
        Where: the source file, its 1-based line number and the record field, when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.field = field
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "field": self.field, "reason": self.reason}

    def at(self, *, path: str | None = None, line: int | None = None) -> CatalogError:
        """The same error located in ``path`` at ``line`` (loaders know where, validators what)."""
        return CatalogError(
            self.reason,
            path=path if path is not None else self.path,
            line=line if line is not None else self.line,
            field=self.field,
        )


class StorageError(LtrrError, OSError):
    """The data directory cannot be opened, migrated or written."""


class LockedError(StorageError):
    """Another process holds the writer lock of a data directory."""


class UnknownEntityError(LtrrError, KeyError):
    """An entity id is not in the catalog."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown entity"


class UnknownStrategyError(LtrrError, ValueError):
    """A strategy name is not registered; the message lists the registered ones."""


class MissingDependencyError(LtrrError, ImportError):
    """An optional package a component needs is not installed; the message says which."""


class PlanError(LtrrError, ValueError):
    """A stored or submitted plan is malformed or inconsistent with its own probabilities."""


class ClickLogError(LtrrError, ValueError):
    """Click-log arrays handed to an estimator are malformed (lengths, positions, click values)."""
