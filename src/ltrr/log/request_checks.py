"""What both serving logs check of an action's request and entity: one code for SQLite and
PostgreSQL, which differ only in how a batch learns which of its requests are known.

An action must name a request whose impression is queued here or stored (by any process; a
missing one may still be committed by another worker: ``log.foreign``), and an entity that is
in the catalog or was shown or retrieved for that request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ltrr.log import foreign
from ltrr.log.events import Action, EventError, Impression
from ltrr.log.group_commit import GroupCommitQueue
from ltrr.log.params import LogParams
from ltrr.types import EntityId


class _Reads(Protocol):
    def has_impression(self, request_id: str) -> bool: ...


R = TypeVar("R", bound=_Reads)


class RequestChecks(Generic[R]):
    """Mixed into a log that sets these attributes and defines ``impression``."""

    params: LogParams
    readonly: bool
    _reads: R
    _queue: GroupCommitQueue[Impression] | None
    _is_known: Callable[[EntityId], bool] | None

    def impression(self, request_id: str) -> Impression | None:
        raise NotImplementedError

    def has_request(self, request_id: str) -> bool:
        """Whether ``request_id``'s impression is queued here or stored (by any process)."""
        queued = self._queue is not None and self._queue.pending(request_id) is not None
        return queued or self._reads.has_impression(request_id)

    def _stored(self, request_id: str, wait: bool) -> bool:
        wait_s = self.params.foreign_wait_ms / 1000 if wait and not self.readonly else 0.0
        return foreign.stored(self._reads.has_impression, request_id, wait_s)

    def _check_entity(self, action: Action) -> None:
        """Raise ``EventError`` unless ``action``'s entity is in the catalog or was shown or
        retrieved for its (known) request."""
        if self._is_known is not None and self._is_known(action.entity_id):
            return
        impression = self.impression(action.request_id)
        if impression is None or action.entity_id not in impression.entity_ids():
            raise EventError(
                "entity_id",
                f"unknown entity id {action.entity_id!r}: not in the catalog and not shown or "
                f"retrieved for request {action.request_id!r}",
            )
