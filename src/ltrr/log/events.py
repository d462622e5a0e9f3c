"""The events the log stores: impressions (what a search showed) and actions (what users did).

An impression records everything needed to learn from a request later without re-running it:
the plan with its probabilities (so off-policy estimates can weight it), every strategy's
ranked list down to the depth it ran (so semi-bandit feedback is known for every shallower
depth), the shown list and the versions that produced it. An action names the request it
answers; its ``action_id`` is the idempotency key (the same action sent twice is stored once).

Events are checked by ``check_impression`` / ``check_action`` where they enter the log; values
read back from the log are trusted and built without checks.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.errors import LtrrError
from ltrr.select.base import Plan
from ltrr.types import Context, EntityId

#: Version of the event shapes below; stored with every event.
EVENT_SCHEMA_VERSION = 1

#: strategy -> [(entity id, score), ...] best first, down to the depth the strategy ran.
StrategyResults = Mapping[str, Sequence[tuple[EntityId, float]]]


class EventError(LtrrError, ValueError):
    """An impression or action is malformed; ``field`` names the offending field."""

    def __init__(self, field: str, reason: str, index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.index = index
        where = "" if index is None else f"event {index}: "
        super().__init__(f"{where}field '{field}': {reason}")

    def at(self, index: int) -> EventError:
        """The same error located at position ``index`` of a batch."""
        return EventError(self.field, self.reason, index)


class UnknownRequestError(EventError):
    """An action names a request with no logged impression (yet: another process's may still
    be committing; ``log.foreign`` waits for it outside any lock)."""

    def __init__(self, request_id: str, index: int | None = None) -> None:
        self.request_id = request_id
        super().__init__(
            "request_id",
            f"unknown request id {request_id!r}: no impression was logged for it",
            index,
        )

    def at(self, index: int) -> UnknownRequestError:
        return UnknownRequestError(self.request_id, index)


@dataclass(frozen=True, slots=True, kw_only=True)
class Impression:
    """One search as served: the plan, every strategy's list, the shown page.

    ``shown[i]`` was displayed at 1-based position ``offset + i + 1``. ``plan`` is the drawn
    plan with the distribution it was drawn from (``Plan.probability``, ``Plan.marginal``).
    """

    request_id: str
    user_id: str | None
    session_id: str | None
    query: str
    context: Context
    plan: Plan
    strategy_results: StrategyResults
    shown: tuple[EntityId, ...]
    catalog_version: int
    model_versions: Mapping[str, str] = field(default_factory=dict)
    event_time_s: float
    offset: int = 0
    schema_version: int = EVENT_SCHEMA_VERSION
    #: What each strategy took to retrieve, ms (the policy's measured costs; ``select.costs``).
    strategy_ms: Mapping[str, float] = field(default_factory=dict)
    #: The ranker's feature rows of the top served candidates (``log.features``), if computed.
    features: LoggedFeatures | None = field(default=None, compare=False, repr=False)

    def entity_ids(self) -> set[EntityId]:
        """Every entity this request shown or retrieved (an action on one of these is valid)."""
        ids = set(self.shown)
        for pairs in self.strategy_results.values():
            ids.update(e for e, _ in pairs)
        return ids


@dataclass(frozen=True, slots=True)
class LoggedFeatures:
    """Feature rows ``x`` (n, F) float32 of the candidates ``ids`` in served order, computed by
    the feature set ``fingerprint``: what the ranker trains on."""

    fingerprint: str
    ids: tuple[EntityId, ...]
    x: NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """What a user did with an entity in answer to a request.

    ``kind`` is one of the configured reward kinds (``[log.rewards]``); ``value`` is a measured
    amount where the kind has one (dwell seconds, play seconds), else ``None``.
    """

    action_id: str
    request_id: str
    user_id: str | None
    entity_id: EntityId
    kind: str
    value: float | None = None
    event_time_s: float
    schema_version: int = EVENT_SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class ImpressionHead:
    """What folding the log needs of an impression until an action answers it: the request
    id, the shown page and the time (the rest is read, and parsed, only for acted-on ones)."""

    request_id: str
    shown: tuple[EntityId, ...]
    event_time_s: float


#: What ``EventLog.replay`` yields.
Event = Impression | Action


@dataclass(frozen=True, slots=True)
class LogStats:
    """Counts over the committed log, plus impressions still queued."""

    n_impressions: int
    n_actions: int
    n_requests_with_actions: int
    n_actions_by_kind: Mapping[str, int]
    n_queued: int
    first_event_time_s: float | None
    last_event_time_s: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "n_impressions": self.n_impressions,
            "n_actions": self.n_actions,
            "n_requests_with_actions": self.n_requests_with_actions,
            "n_actions_by_kind": dict(self.n_actions_by_kind),
            "n_queued": self.n_queued,
            "first_event_time_s": self.first_event_time_s,
            "last_event_time_s": self.last_event_time_s,
        }


# -- checks -------------------------------------------------------------------------------------


def _check_id(name: str, value: object, max_chars: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise EventError(name, f"must be a non-empty string, got {value!r}")
    if len(value) > max_chars:
        raise EventError(name, f"is {len(value)} characters long; at most {max_chars} allowed")


def _check_number(name: str, value: object, *, minimum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventError(name, f"must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise EventError(name, f"must be >= {minimum}, got {value!r}")


def _check_schema(value: object) -> None:
    if value != EVENT_SCHEMA_VERSION:
        raise EventError(
            "schema_version", f"this ltrr writes version {EVENT_SCHEMA_VERSION}, got {value!r}"
        )


def check_action(
    action: Action,
    kinds: Collection[str],
    *,
    needs_value: Collection[str] = (),
    max_id_chars: int = 512,
) -> None:
    """Raise ``EventError`` naming the first bad field of ``action``."""
    if not isinstance(action, Action):
        raise EventError("action", f"must be an Action, got {type(action).__name__}")
    _check_id("action_id", action.action_id, max_id_chars)
    _check_id("request_id", action.request_id, max_id_chars)
    _check_id("user_id", action.user_id, max_id_chars, optional=True)
    _check_id("entity_id", action.entity_id, max_id_chars)
    if action.kind not in kinds:
        raise EventError(
            "kind", f"unknown action kind {action.kind!r}; allowed: {', '.join(sorted(kinds))}"
        )
    if action.value is not None:
        _check_number("value", action.value, minimum=0.0)
    elif action.kind in needs_value:
        raise EventError("value", f"a {action.kind!r} action needs a value (>= 0), got None")
    _check_number("event_time_s", action.event_time_s, minimum=0.0)
    _check_schema(action.schema_version)


_NUMBER_TYPES = frozenset({float, int, np.float32, np.float64})


def _check_pairs(strategy: str, pairs: object, max_id_chars: int) -> None:
    """C-level passes over the columns (no Python loop per candidate)."""
    name = f"strategy_results.{strategy}"
    if not isinstance(pairs, Sequence) or isinstance(pairs, str):
        raise EventError(name, f"must be a list of (entity id, score) pairs, got {pairs!r}")
    if not pairs:
        return
    if set(map(type, pairs)) - {tuple, list}:
        raise EventError(name, "every item must be an (entity id, score) pair")
    try:
        columns = list(zip(*pairs, strict=True))
    except ValueError:
        columns = []
    if len(columns) != 2:
        raise EventError(name, "every item must be an (entity id, score) pair")
    ids, scores = columns
    if set(map(type, ids)) != {str} or max(map(len, ids)) > max_id_chars:
        raise EventError(name, f"entity ids must be strings of at most {max_id_chars} characters")
    if not set(map(type, scores)) <= _NUMBER_TYPES:
        raise EventError(name, "scores must be numbers")
    if not all(map(math.isfinite, scores)):
        raise EventError(name, "scores must be finite")


def check_impression(impression: Impression, *, max_id_chars: int = 512) -> None:
    """Raise ``EventError`` naming the first bad field of ``impression``."""
    if not isinstance(impression, Impression):
        raise EventError("impression", f"must be an Impression, got {type(impression).__name__}")
    _check_id("request_id", impression.request_id, max_id_chars)
    _check_id("user_id", impression.user_id, max_id_chars, optional=True)
    _check_id("session_id", impression.session_id, max_id_chars, optional=True)
    if not isinstance(impression.query, str):
        raise EventError("query", f"must be a string, got {impression.query!r}")
    if not isinstance(impression.context, Context):
        raise EventError("context", f"must be a Context, got {impression.context!r}")
    if not isinstance(impression.plan, Plan):
        raise EventError("plan", f"must be a Plan, got {impression.plan!r}")
    if not isinstance(impression.strategy_results, Mapping):
        raise EventError("strategy_results", "must map strategy names to (id, score) lists")
    for strategy, pairs in impression.strategy_results.items():
        _check_id("strategy_results", strategy, max_id_chars)
        _check_pairs(strategy, pairs, max_id_chars)
    shown = impression.shown
    if not isinstance(shown, tuple | list) or set(map(type, shown)) - {str}:
        raise EventError("shown", "must be a list of entity ids (strings)")
    if isinstance(impression.catalog_version, bool) or not isinstance(
        impression.catalog_version, int
    ):
        raise EventError("catalog_version", f"must be an int, got {impression.catalog_version!r}")
    if not isinstance(impression.model_versions, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in impression.model_versions.items()
    ):
        raise EventError("model_versions", "must map model names to version strings")
    _check_number("event_time_s", impression.event_time_s, minimum=0.0)
    if isinstance(impression.offset, bool) or not isinstance(impression.offset, int):
        raise EventError("offset", f"must be an int >= 0, got {impression.offset!r}")
    _check_number("offset", impression.offset, minimum=0)
    if not isinstance(impression.strategy_ms, Mapping):
        raise EventError("strategy_ms", "must map strategy names to milliseconds")
    for strategy, ms in impression.strategy_ms.items():
        _check_number(f"strategy_ms.{strategy}", ms, minimum=0.0)
    _check_schema(impression.schema_version)


# -- JSON shapes --------------------------------------------------------------------------------


def context_to_dict(context: Context) -> dict[str, Any]:
    return {
        "user_id": context.user_id,
        "session_id": context.session_id,
        "segment": context.segment,
        "locale": context.locale,
        "device": context.device,
        "hour": context.hour,
        "taste": dict(context.taste),
    }


def context_from_dict(d: Mapping[str, Any]) -> Context:
    return Context(
        user_id=d.get("user_id"),
        session_id=d.get("session_id"),
        segment=d.get("segment"),
        locale=d.get("locale"),
        device=d.get("device"),
        hour=d.get("hour"),
        taste=dict(d.get("taste") or {}),
    )


def plan_to_dict(plan: Plan) -> dict[str, object]:
    """``Plan.to_dict`` plus each strategy's depth distribution (``marginals``), for readers."""
    out = plan.to_dict()
    names = sorted(set(plan.depths) | set(plan.greedy) | set(plan.explore))
    out["marginals"] = {s: {str(d): p for d, p in plan.marginal(s).items()} for s in names}
    return out


def results_to_dict(results: StrategyResults) -> dict[str, dict[str, list[Any]]]:
    """Column form ``{strategy: {"ids": [...], "scores": [...]}}``: compact, numpy-friendly."""
    out: dict[str, dict[str, list[Any]]] = {}
    for strategy, pairs in results.items():
        ids, scores = zip(*pairs, strict=True) if pairs else ((), ())
        out[strategy] = {
            "ids": list(ids),
            "scores": list(map(float, scores)),
        }
    return out


def results_from_dict(d: Mapping[str, Mapping[str, list[Any]]]) -> StrategyResults:
    # EntityId is a NewType of str: the stored strings already are entity ids.
    return {
        strategy: list(zip(cols["ids"], cols["scores"], strict=True))
        for strategy, cols in d.items()
    }
