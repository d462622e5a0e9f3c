"""Candidate lists of repeated queries, kept until the catalog changes.

Head queries repeat (search traffic is Zipf-like), and a strategy whose list is a function of
the understood query and the catalog alone returns the same list every time it runs one at the
same depth. Such a retriever declares ``cacheable = True`` (lexical, fuzzy, structured, dense);
the memory index (learned from actions), exploration (random) and the others do not, and always
run. ``IndexSet`` asks this cache first and fills it; it is emptied whenever the indexes catch up
with a catalog change, so a hit is exactly the list the retriever would return now.

A hit reports the milliseconds computing the list took, not the microseconds of the look-up:
the policy prices each arm by what running it costs (``select.costs``, from the logged times),
and what one worker happened to have cached must not change learned prices (workers, restarts
and replays would then learn different ones). The request's stage timings show the real time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ltrr.errors import ConfigError
from ltrr.retrieve.base import Candidate, Retriever
from ltrr.understand.base import UnderstoodQuery

#: (strategy, depth, then what retrievers read of an understood query)
Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class ListCacheParams:
    """``[search.cache]``: most candidates kept over all cached lists (0 = no cache). Not a
    ``[retrieve.<name>]`` section: those name strategies."""

    candidates: int = 500_000

    def __post_init__(self) -> None:
        if self.candidates < 0:
            raise ConfigError(f"search.cache.candidates must be >= 0, got {self.candidates}")


def cacheable(retriever: Retriever) -> bool:
    """Whether ``retriever``'s lists depend on the understood query and the catalog alone."""
    return bool(getattr(retriever, "cacheable", False))


def list_key(strategy: str, depth: int, query: UnderstoodQuery) -> Key:
    """Every field of ``query`` a retriever may read (the bandit's feature vector aside)."""
    return (
        strategy, depth, query.raw, query.tokens, query.corrected_tokens, query.spans,
        query.intent, query.correction_distance,
    )  # fmt: skip


class ListCache:
    """Least-recently-used lists with their compute time, at most ``max_candidates`` in all.

    Not locked: ``IndexSet`` runs under the engine's lock, and a lone reader (a benchmark,
    the simulator) is single-threaded.
    """

    def __init__(self, max_candidates: int) -> None:
        self.max_candidates = max_candidates
        self._lists: OrderedDict[Key, tuple[list[Candidate], float]] = OrderedDict()
        self._held = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._lists)

    def get(self, key: Key) -> tuple[list[Candidate], float] | None:
        """A copy of the cached list (callers may extend or slice theirs) and its ms, if held."""
        found = self._lists.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._lists.move_to_end(key)
        return list(found[0]), found[1]

    def put(self, key: Key, ranked: list[Candidate], ms: float) -> None:
        """Keep ``ranked`` (computed in ``ms``), dropping the least recently used lists."""
        if len(ranked) > self.max_candidates or key in self._lists:
            return
        self._lists[key] = (list(ranked), ms)
        self._held += _size(ranked)
        while self._held > self.max_candidates:
            _, (old, _) = self._lists.popitem(last=False)
            self._held -= _size(old)

    def clear(self) -> None:
        """Forget every list (the catalog changed)."""
        self._lists.clear()
        self._held = 0


def _size(ranked: list[Candidate]) -> int:
    """What a list counts against the bound: an empty one too, or empty lists of a flood of
    distinct queries would never be dropped."""
    return max(len(ranked), 1)
