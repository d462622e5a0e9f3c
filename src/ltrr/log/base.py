"""The EventLog contract (DESIGN.md: Event log): the source of truth of everything learned.

Impressions are written through a group-commit queue (``log_impression`` returns at once;
``flush`` waits until all queued ones are committed). Actions are durable when
``log_action`` returns and idempotent on ``action_id``; an action naming a request whose
impression is still queued waits for it instead of being rejected. ``replay`` yields every
event in the order learning must see them, so memory index and policy can be rebuilt from the
log alone. ``ServingLog`` adds what serving and following the log need (log positions, the
ranker's training data, submit-then-wait, the dashboard's recent requests, the log's identity):
the embedded SQLite log and the PostgreSQL log both provide it (checked by mypy in
``log.open``; tests/contracts/test_event_logs.py runs both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ltrr.errors import StorageError
from ltrr.log.events import Action, Event, EventError, Impression, ImpressionHead, LogStats
from ltrr.log.group_commit import GroupCommitQueue, Job
from ltrr.log.params import LogParams
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_reader import ActedFeatures


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


@dataclass(slots=True)
class ActionReceipt:
    """Actions checked and queued by ``ServingLog.submit_actions`` (either backend: both queue
    them on a ``GroupCommitQueue``)."""

    queue: GroupCommitQueue[Impression]
    actions: list[Action]
    #: Per action, its queued row (``seq``: its log position once committed as new), or
    #: ``None`` for an action id already stored or repeated in the batch.
    jobs: list[Job[Impression] | None]

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the actions are durable (or failed), on the log's writer
        thread or at once; ``wait`` then returns without blocking."""
        last = next((job for job in reversed(self.jobs) if job is not None), None)
        if last is None:
            callback()
        else:  # tickets grow in queue order: the last job's commit covers the others
            self.queue.when_done(last, callback)

    def wait(self) -> list[bool]:
        """Block until the actions are durable; per action, whether it was new. Raises the
        ``EventError`` of an action whose impression turned out to be lost."""
        for job in self.jobs:
            if job is not None:
                self.queue.wait(job)
        out = []
        for action, job in zip(self.actions, self.jobs, strict=True):
            if job is None:
                out.append(False)
                continue
            if isinstance(job.error, EventError):
                raise job.error
            if job.error is not None:
                raise StorageError(f"action {action.action_id!r} was not stored: {job.error}")
            out.append(job.inserted)
        return out


@runtime_checkable
class ServingLog(EventLog, Protocol):
    """What the engine, the log follower and the learners use beyond ``EventLog``: log
    positions for following the log from several processes, the ranker's training data, and
    the split of a durable write into submit and wait. ``SqliteEventLog`` (embedded) and
    ``PostgresEventLog`` (scale-out) both provide it."""

    rewards: RewardMap

    @property
    def identity(self) -> str:
        """Which log this is (``sqlite:///ABSOLUTE/PATH``, ``postgresql://host:port/database?
        schema=NAME``), never a password: a snapshot records it so that it is never restored
        against another log."""
        ...

    params: LogParams

    def submit_actions(
        self, actions: Sequence[Action], *, foreign_wait: bool = True
    ) -> ActionReceipt:
        """Check ``actions`` (all before any is queued) and queue them as one urgent batch.
        A request with no impression is waited for up to ``[log] foreign_wait_ms`` (another
        process may be committing it); ``foreign_wait=False`` raises ``UnknownRequestError``
        at once instead (``log.foreign`` waits outside the caller's lock)."""
        ...

    def has_request(self, request_id: str) -> bool:
        """Whether ``request_id``'s impression is queued here or stored (by any process)."""
        ...

    def log_actions(self, actions: Sequence[Action]) -> list[bool]: ...

    def events_after(
        self, seq: int, limit: int = 5000
    ) -> list[tuple[int, ImpressionHead | Action]]:
        """``(position, event)`` of up to ``limit`` committed events after position ``seq``, in
        log order (impressions as their heads). Positions increase in commit order, so a poller
        that remembers the last position it read never misses an event."""
        ...

    def actions_through(self, request_id: str, seq: int) -> list[Action]:
        """The actions on ``request_id`` up to log position ``seq``, in log order."""
        ...

    def last_position(self) -> int:
        """The last committed log position (0 for an empty log)."""
        ...

    def acted_features(self, limit: int = 20_000) -> Iterator[ActedFeatures]:
        """The latest ``limit`` impressions with logged features and actions, in log order."""
        ...

    def n_queued(self) -> int:
        """Impressions waiting for the next group commit."""
        ...

    def recent(self, n: int) -> list[dict[str, Any]]:
        """The ``n`` latest stored impressions, newest first, as the dashboard lists them: the
        plan's depths, probability and policy, ``n_shown``, ``n_actions``, ``event_time_s``."""
        ...
