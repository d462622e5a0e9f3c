"""The EventLog contract (DESIGN.md: Event log): the source of truth of everything learned.

Impressions are written through a group-commit queue (``log_impression`` returns at once;
``flush`` waits until all queued ones are committed). Actions are durable when
``log_action`` returns and idempotent on ``action_id``; an action naming a request whose
impression is still queued waits for it instead of being rejected. ``replay`` yields every
event in the order learning must see them, so memory index and policy can be rebuilt from the
log alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from ltrr.log.events import Action, Event, Impression, LogStats


@runtime_checkable
class EventLog(Protocol):
    """Durable, replayable store of impressions and actions."""

    def log_impression(self, impression: Impression) -> None:
        """Check ``impression`` and queue it; raises ``EventError`` naming a bad field.

        A request id already logged is ignored (the request id is the idempotency key).
        """
        ...

    def log_action(self, action: Action) -> bool:
        """Check and durably store ``action``; ``False`` if its ``action_id`` was already stored.

        Raises ``EventError`` naming the field for an unknown ``request_id``, an unknown
        ``kind`` (listing the allowed ones), a malformed ``value`` or an unknown ``entity_id``
        (an entity the request showed or retrieved is known even if since deleted); nothing
        is written then.
        """
        ...

    def flush(self) -> None:
        """Return once every impression queued before the call is committed."""
        ...

    def close(self) -> None:
        """Flush, stop the writer and release the database."""
        ...

    def impression(self, request_id: str) -> Impression | None:
        """The impression of ``request_id`` (queued or committed), or ``None``."""
        ...

    def impressions(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[Impression]:
        """Impressions with ``since <= event_time_s < until``, by event time then log order."""
        ...

    def actions_for(self, request_id: str) -> list[Action]:
        """The actions on ``request_id``, by event time then log order."""
        ...

    def replay(self, since: float | None = None) -> Iterator[Event]:
        """Every impression and action in event order (ties: log order); see the store."""
        ...

    def stats(self) -> LogStats: ...
