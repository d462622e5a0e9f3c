"""``fusion``: weighted reciprocal rank fusion whose weights are learned from what users wanted.

The score of a candidate is RRF's ``sum_s w_s / (k + r_s)`` (Cormack et al. 2009) with one
weight vector ``w`` for queries that had feedback before and one for new queries (``q`` = 1 or
0): a strategy such as ``memory`` is near-certain on a repeated query and noise on a new one.
Both start at the ``[merge.fusion]`` weights (0 for strategies outside it), so before any
feedback this is exactly the configured fusion, the unsupervised baseline.

Learning. Every request with a wanted item (its first positive action) keeps, for its
``q``, the lists that ran and the wanted item: a window of the ``window`` most recent. Every
``refit_every`` updates, each weight vector is refitted by coordinate ascent (Metzler & Croft,
"Linear feature-based models for information retrieval", Inf. Retr. 2007): for each strategy
in turn, the grid value of its weight that maximises the window's mean gain of the wanted item,
``1 / log2(1 + rank)`` within the top ``cutoff`` (its DCG), is kept when it beats the current
weight by ``min_improvement``. The rank is recomputed from the logged lists for every candidate
weight (ties counted against the wanted item), so the fit is listwise, not a per-strategy
calibration: calibrated probabilities summed over correlated lists overrate a strategy that
finds what the others find (measured on SciFact: CombSUM of bucket probabilities 0.688 nDCG@10
against RRF's 0.710 on the same lists).

Calibrated strategies (``calibrated``: ``memory``, whose score is its estimate of p(e | q), the
share of the query's actions that went to e). Their vote is ``w_s * p / (k + 1)``: the
probability times a rank-1 vote, not ``w_s / (k + r)``. By rank, every entity a repeated query
ever had a click on outvotes every other candidate once ``w_memory`` is large, so when users
click freely (40% of the non-relevant results they look at) the page fills with yesterday's
stray clicks and a relevant result that was never shown can never get in; by probability, a
stray click weighs what it is worth against the lexical and dense votes.

Refits run off the request path: at every ``refit_every``-th update the windows are
snapshotted and refitted on a background thread, and the new weights are swapped in exactly
``apply_after`` updates later (waiting for the thread only if it is still running). Which
snapshot is fitted and when it lands depend on the update count alone, so a replay of the log
produces the same weights at the same requests as live traffic did.

Clicks are position-biased (the wanted item was usually shown, so ranked high by the weights
of the time); the bias makes the fit conservative, never wrong-footed, and found-elsewhere
actions carry the unshown evidence. State: the two windows and weight vectors, rebuilt by
replaying the event log (refits happen at fixed update counts, so a replay refits alike).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.merge.rrf import Fused, fuse, fusion_params
from ltrr.rank.base import RankFeedback
from ltrr.rank.features import CandidateFeatures
from ltrr.rank.fusion_kernel import grid_gains
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery, query_key

SECTION = "rank.fusion"
#: One background thread runs every fusion's refits (the compiled gain loop releases the GIL).
_REFITS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ltrr-fusion-refit")
Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FusionRankParams:
    """``[rank.fusion]``; see ``defaults.toml`` for why each value."""

    window: int = 2000
    refit_every: int = 250
    weight_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    cutoff: int = 10
    min_improvement: float = 0.002
    n_passes: int = 2
    calibrated: tuple[str, ...] = ("memory",)
    apply_after: int = 25

    def __post_init__(self) -> None:
        for name in ("window", "refit_every", "cutoff", "n_passes", "apply_after"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{SECTION}.{name} must be >= 1, got {getattr(self, name)}")
        if self.apply_after > self.refit_every:
            raise ConfigError(
                f"{SECTION}.apply_after ({self.apply_after}) must be <= refit_every "
                f"({self.refit_every}): a refit must land before the next one starts"
            )
        if not self.weight_grid or min(self.weight_grid) < 0:
            raise ConfigError(
                f"{SECTION}.weight_grid must list weights >= 0, got {list(self.weight_grid)}"
            )


@dataclass(frozen=True, slots=True)
class _Example:
    """One request's lists, as sparse RRF contributions over its candidates.

    ``entries[s] = (rows, values)``: the candidate row (0 .. ``n_rows`` - 1, in order of first
    appearance over the lists) of each id ``s`` returned and its ``1 / (k + r)`` at its best
    rank; ``wanted_row`` is the wanted item's row, -1 if no list held it. Computed once, when
    the request is learned from, so that a refit only stacks arrays.
    """

    entries: Mapping[str, tuple[NDArray[np.int64], Array]]
    n_rows: int
    wanted_row: int

    @classmethod
    def of(
        cls,
        lists: Mapping[str, Sequence[EntityId]],
        wanted: EntityId,
        k: float,
        calibrated: Mapping[str, Sequence[float]] | None = None,
    ) -> _Example:
        row: dict[EntityId, int] = {}
        entries = {}
        for s, ranked in lists.items():
            rows: dict[int, float] = {}
            values = _votes(ranked, k, (calibrated or {}).get(s))
            for x, v in zip(ranked, values, strict=True):
                n = row.setdefault(x, len(row))
                rows.setdefault(n, v)  # an id listed twice keeps its best rank
            entries[s] = (
                np.fromiter(rows.keys(), np.int64, len(rows)),
                np.fromiter(rows.values(), np.float64, len(rows)),
            )
        return cls(entries, len(row), row.get(wanted, -1))


def _votes(ranked: Sequence[object], k: float, scores: Sequence[float] | None) -> list[float]:
    """A list's vote per rank before weighting: RRF's ``1 / (k + r)``, or for a calibrated
    strategy ``p / (k + 1)``, its probability ``p`` of the entity times a rank-1 vote."""
    if scores is None:
        return [1.0 / (k + r) for r in range(1, len(ranked) + 1)]
    return [min(max(float(p), 0.0), 1.0) / (k + 1.0) for p in scores[: len(ranked)]]


class LearnedFusion:
    """Weighted RRF with weights per query-seen bit, refitted by coordinate ascent.

    Parameters
    ----------
    params
        Window, refit period, weight grid and objective cut-off.
    weights
        The starting (configured) weights, strategy -> ``w_s``; other strategies start at 0.
    k
        RRF's smoothing constant.
    """

    name = "fusion"

    def __init__(
        self, params: FusionRankParams, weights: Mapping[str, float], k: float = 60.0
    ) -> None:
        self.params = params
        self.k = k
        self.start = dict(weights)
        self.weights: list[dict[str, float]] = [dict(weights), dict(weights)]  # [q] -> w
        self._window: list[deque[_Example]] = [deque(maxlen=params.window) for _ in range(2)]
        self._seen: set[int] = set()
        self._n_updates = 0
        self._refitting: tuple[Future[list[dict[str, float]]], int] | None = None

    @classmethod
    def from_config(cls, config: Config) -> LearnedFusion:
        fusion = fusion_params(config)
        return cls(config.params(SECTION, FusionRankParams), fusion.strategy_to_weight, fusion.k)

    @property
    def n_updates(self) -> int:
        return self._n_updates

    def weights_for(self, query: UnderstoodQuery) -> dict[str, float]:
        """The weight vector that ranks ``query``'s candidates."""
        key = query_key(query)
        return self.weights[int(key is not None and key in self._seen)]

    def rank(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        depth: int | None = None,
        features: CandidateFeatures | None = None,
    ) -> list[Fused]:
        w = self.weights_for(query)
        values = {
            s: [
                w.get(s, 0.0) * v
                for v in _votes(ranked, self.k, self._calibrated_scores(s, ranked))
            ]
            for s, ranked in rankings.items()
        }
        return fuse(rankings, values, depth=depth)

    def _calibrated_scores(self, strategy: str, ranked: Sequence[Candidate]) -> list[float] | None:
        if strategy not in self.params.calibrated:
            return None
        return [c.score for c in ranked]

    def update(self, feedback: RankFeedback) -> None:
        key = query_key(feedback.query)
        seen = int(key is not None and key in self._seen)
        if feedback.wanted is not None and feedback.lists:
            calibrated = {s: v for s, v in feedback.scores.items() if s in self.params.calibrated}
            missing = [
                s for s in self.params.calibrated if s in feedback.lists and s not in calibrated
            ]
            if missing:
                raise ValueError(f"rank feedback lacks the scores of {missing}")
            self._window[seen].append(
                _Example.of(feedback.lists, feedback.wanted, self.k, calibrated)
            )
        if key is not None:
            self._seen.add(key)
        self._n_updates += 1
        if self._refitting is not None and self._n_updates >= self._refitting[1]:
            self.settle()  # waits only if the refit is still running
        if self._n_updates % self.params.refit_every == 0:
            snapshot = [(dict(self.weights[q]), list(self._window[q])) for q in (0, 1)]
            job = _REFITS.submit(lambda: [self._refit(w, examples) for w, examples in snapshot])
            self._refitting = (job, self._n_updates + self.params.apply_after)

    def state(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """Everything learned, exactly: JSON (weights, seen query keys, counters, a pending
        refit's result and when it lands) and arrays (the two windows' examples, flattened).
        ``restore`` inverts it; a snapshot of learned state stores it."""
        pending = None
        if self._refitting is not None:  # the refit's result is fixed by its snapshot: wait
            pending = {"weights": self._refitting[0].result(), "at": self._refitting[1]}
        meta: dict[str, Any] = {
            "weights": self.weights,
            "seen": sorted(self._seen),
            "n_updates": self._n_updates,
            "pending": pending,
            "windows": [],
        }
        strategies, rows, values, lengths = [], [], [], []
        for window in self._window:
            examples = []
            for example in window:
                parts = []
                for strategy, (r, v) in example.entries.items():
                    parts.append(strategy)
                    rows.append(r)
                    values.append(v)
                    lengths.append(len(r))
                examples.append([example.n_rows, example.wanted_row, parts])
                strategies.extend(parts)
            meta["windows"].append(examples)
        arrays = {
            "rows": np.concatenate(rows) if rows else np.zeros(0, np.int64),
            "values": np.concatenate(values) if values else np.zeros(0),
            "lengths": np.array(lengths, dtype=np.int64),
        }
        return meta, arrays

    def restore(self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> None:
        """Put back what ``state`` returned (the same parameters assumed)."""
        self.weights = [dict(w) for w in meta["weights"]]
        self._seen = {int(k) for k in meta["seen"]}
        self._n_updates = int(meta["n_updates"])
        self._refitting = None
        if meta["pending"] is not None:
            done: Future[list[dict[str, float]]] = Future()
            done.set_result([dict(w) for w in meta["pending"]["weights"]])
            self._refitting = (done, int(meta["pending"]["at"]))
        ends = np.cumsum(arrays["lengths"])
        starts = ends - arrays["lengths"]
        j = 0
        for q, examples in enumerate(meta["windows"]):
            self._window[q].clear()
            for n_rows, wanted_row, parts in examples:
                entries = {}
                for strategy in parts:
                    lo, hi = int(starts[j]), int(ends[j])
                    entries[strategy] = (
                        arrays["rows"][lo:hi].astype(np.int64),
                        arrays["values"][lo:hi].astype(np.float64),
                    )
                    j += 1
                self._window[q].append(_Example(entries, int(n_rows), int(wanted_row)))

    def settle(self) -> None:
        """Apply a refit still in the background now (tests; the end of a batch job)."""
        if self._refitting is not None:
            self.weights = self._refitting[0].result()
            self._refitting = None

    def _refit(self, weights: dict[str, float], examples: list[_Example]) -> dict[str, float]:
        """Coordinate ascent on the window's mean DCG of the wanted item."""
        if not examples:
            return weights
        strategies = sorted({s for e in examples for s in e.entries} | set(weights))
        table = _Table.build(examples, strategies)
        w = np.array([weights.get(s, self.start.get(s, 0.0)) for s in strategies])
        grid = np.array(self.params.weight_grid, dtype=np.float64)
        best = table.gains(w, 0, w[:1].copy(), self.params.cutoff)[0]
        for _ in range(self.params.n_passes):
            moved = False
            for j in range(len(strategies)):
                gains = table.gains(w, j, grid, self.params.cutoff)
                pick = int(np.argmax(gains))
                if gains[pick] > best + self.params.min_improvement:
                    w = w.copy()
                    w[j], best, moved = grid[pick], float(gains[pick]), True
            if not moved:
                break
        return dict(zip(strategies, w.tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class _Table:
    """All examples' candidates as one matrix: ``contrib`` (n_rows, S) of ``1 / (k + r)``;
    example ``i`` owns rows ``starts[i]:starts[i + 1]``, its wanted item at ``wanted_row[i]``
    (-1: no list held it)."""

    contrib: Array
    starts: NDArray[np.int64]
    wanted_row: NDArray[np.int64]

    @classmethod
    def build(cls, examples: Sequence[_Example], strategies: Sequence[str]) -> _Table:
        column = {s: j for j, s in enumerate(strategies)}
        sizes = np.array([e.n_rows for e in examples], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        rows, columns, values = [], [], []
        for e, offset in zip(examples, starts[:-1].tolist(), strict=True):
            for s, (r, v) in e.entries.items():
                rows.append(r + offset)
                columns.append(np.full(len(r), column[s], dtype=np.int64))
                values.append(v)
        contrib = np.zeros((int(starts[-1]), len(strategies)))
        if rows:
            contrib[np.concatenate(rows), np.concatenate(columns)] = np.concatenate(values)
        wanted = np.array([e.wanted_row for e in examples], dtype=np.int64)
        return cls(contrib, starts, np.where(wanted >= 0, starts[:-1] + wanted, -1))

    def gains(self, w: Array, j: int, grid: Array, cutoff: int) -> Array:
        """Mean over examples of ``1 / log2(1 + rank of the wanted item)`` within ``cutoff``,
        for ``w`` with ``w[j]`` at each value of ``grid`` (``rank.fusion_kernel``)."""
        return grid_gains(self.contrib, self.starts, self.wanted_row, w, j, grid, cutoff)
