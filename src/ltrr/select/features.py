"""The learned policy's feature vector x: the understood query plus its context, fixed length.

``FeatureMap.vector`` builds x both when planning and when learning (``update`` recomputes it
from the logged request), so serving and replay cannot drift. Every column is O(1), so one
prior precision suits them all. Columns, in order (``FeatureMap.names``):

- ``bias``: 1.0, each arm's intercept;
- ``q:<name>`` for each of ``ltrr.understand.features.FEATURE_NAMES`` (19), looked up by name
  in ``UnderstoodQuery.feature_names`` (0.0 when absent, e.g. for ``plain_query``); counts
  (``n_tokens``, ``n_chars``, ``correction_distance``, ``n_entity_spans``) squashed to
  ``log1p(v) / log1p(scale)``; then NaN -> 0 and clipped to [-3, 3];
- ``segment:<b>``, ``locale:<b>``, ``device:<b>`` for ``b < context_buckets``: one-hot of
  ``crc32(value) % context_buckets`` (stable across processes, unlike ``hash``); all zero
  when the value is unknown;
- ``hour_sin``, ``hour_cos``: the hour on the unit circle, so 23h and 0h are neighbours
  (both 0 when unknown);
- ``has_user``; ``taste_n`` = log1p(values in the taste profile) / log1p(32); ``taste_max``
  = the strongest affinity; ``taste_entropy`` = entropy of the affinities over log(n), 0 for a
  single value (a focused profile is near 0, a broad one near 1).

With the default 8 buckets the vector has 1 + 19 + 24 + 2 + 4 = 50 columns.

Probe features (probe-then-decide, ``select.base.Probe``), when ``[select.features] probe``
names a strategy: the pre-retrieval columns above say little about which strategy will work
for a prose query, the probe's scores do (query-performance prediction: Cronen-Townsend's
clarity, Shtok's normalised query commitment, Kim & Diaz's routing). Seven columns, all
scale-free or squashed so one prior precision suits them, computed from the top
``probe_depth`` scores ``s_1 >= ... >= s_n`` of the probe:

- ``probe:ran``: 1 when the probe's scores were given (0: the other six are 0 too);
- ``probe:filled``: ``n / probe_depth``, how much the probe found at all;
- ``probe:top``: ``log1p(s_1) / log1p(32)``;
- ``probe:top_per_term``: ``log1p(s_1 / n_tokens) / log1p(8)``: a strong match of one term
  of a long query scores like a weak match of all of them;
- ``probe:gap``: ``(s_1 - s_2) / s_1``, how far the best document stands out;
- ``probe:drop``: ``(s_1 - s_n) / s_1``, the fall over the probe's list;
- ``probe:spread``: standard deviation over mean of the scores (NQC-like).
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ltrr.errors import ConfigError
from ltrr.select.base import Probe
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.features import FEATURE_NAMES as QUERY_FEATURE_NAMES

if TYPE_CHECKING:
    from ltrr.select import SelectParams

logger = logging.getLogger(__name__)
#: Count features and the value that maps to 1.0 after ``log1p(v) / log1p(scale)``.
COUNT_SCALES: dict[str, float] = {
    "n_tokens": 16.0,
    "n_chars": 128.0,
    "correction_distance": 8.0,
    "n_entity_spans": 4.0,
}
CONTEXT_FIELDS: tuple[str, ...] = ("segment", "locale", "device")
TASTE_NAMES: tuple[str, ...] = ("has_user", "taste_n", "taste_max", "taste_entropy")
PROBE_NAMES: tuple[str, ...] = (
    "probe:ran",
    "probe:filled",
    "probe:top",
    "probe:top_per_term",
    "probe:gap",
    "probe:drop",
    "probe:spread",
)
_TOP_SCALE = math.log1p(32.0)
_PER_TERM_SCALE = math.log1p(8.0)
_MAX_SCORE = 1e9  # scores above are clipped: the squashed columns saturate long before
_TASTE_SCALE = math.log1p(32.0)
_CLIP = 3.0


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """``[select.features]``: hash buckets per categorical context field, and the probe
    (a strategy name, empty for none) that policies plan after, run to ``probe_depth``."""

    context_buckets: int = 8
    probe: str = "lexical"
    probe_depth: int = 10

    def __post_init__(self) -> None:
        if self.context_buckets < 1:
            raise ConfigError(
                f"select.features.context_buckets must be >= 1, got {self.context_buckets}"
            )
        if self.probe_depth < 1:
            raise ConfigError(f"select.features.probe_depth must be >= 1, got {self.probe_depth}")


def bucket(value: str, n_buckets: int) -> int:
    """Stable hash bucket of a categorical value (crc32, the same in every process)."""
    return zlib.crc32(value.encode("utf-8", "surrogatepass")) % n_buckets


class FeatureMap:
    """Builds x for a query and context; holds only the layout, no learned state."""

    def __init__(self, params: FeatureParams | None = None) -> None:
        self.params = params or FeatureParams()
        b = self.params.context_buckets
        self.names: tuple[str, ...] = (
            "bias",
            *(f"q:{n}" for n in QUERY_FEATURE_NAMES),
            *(f"{f}:{i}" for f in CONTEXT_FIELDS for i in range(b)),
            "hour_sin",
            "hour_cos",
            *TASTE_NAMES,
            *(PROBE_NAMES if self.params.probe else ()),
        )
        probe, depth = self.params.probe, self.params.probe_depth
        self.probe = Probe(probe, depth) if probe else None
        #: Per query feature, ``log1p(scale)`` for a count (squashed), 0.0 for the others.
        self._count_norm = [math.log1p(COUNT_SCALES.get(n, 0.0)) for n in QUERY_FEATURE_NAMES]
        self._context_at = 1 + len(QUERY_FEATURE_NAMES)

    def __len__(self) -> int:
        return len(self.names)

    def usable_probe(self, select: SelectParams, anchors: Sequence[str]) -> Probe | None:
        """The probe, if every plan runs it at least as deep, else None (with a warning).

        Its list must be the top of the strategy's logged list so that learning rebuilds the
        features the plan was drawn with: the strategy must be open and an anchor (anchors
        run in every plan). A strategy that is not (a data directory without it, a config
        without anchors) leaves the probe off and its columns 0; a probe deeper than the
        grid's first depth is a configuration error.
        """
        probe = self.probe
        if probe is None:
            return None
        if probe.strategy not in select.strategies or probe.strategy not in anchors:
            logger.warning(
                "select.features.probe = %r is not an open anchor (anchors: %s; strategies: %s): "
                "planning without a probe",
                probe.strategy, ", ".join(anchors) or "none", ", ".join(select.strategies),
            )  # fmt: skip
            return None
        if probe.depth > min(select.depths):
            raise ConfigError(
                f"select.features.probe_depth = {probe.depth} must be at most the shallowest "
                f"grid depth ({min(select.depths)}), which every plan runs the probe to"
            )
        return probe

    def vector(
        self, query: UnderstoodQuery, context: Context, probe: Sequence[float] | None = None
    ) -> NDArray[np.float64]:
        """x for one request, shape ``(len(self),)``; ``probe``: the probe's scores, if it ran.

        Built in plain Python floats and copied into the array once: x is about sixty numbers,
        and numpy's per-call cost over arrays of four to twenty (``nan_to_num``, ``clip``,
        ``sort``, ``std``) made it 0.1-0.2 ms, paid by every search and every policy update.
        """
        x = [0.0] * len(self.names)
        x[0] = 1.0
        at = self._context_at
        x[1:at] = self._query_part(query)
        b = self.params.context_buckets
        for i, name in enumerate(CONTEXT_FIELDS):
            value = getattr(context, name)
            if value:
                x[at + i * b + bucket(str(value), b)] = 1.0
        at += len(CONTEXT_FIELDS) * b
        if context.hour is not None:
            angle = 2.0 * math.pi * (int(context.hour) % 24) / 24.0
            x[at], x[at + 1] = math.sin(angle), math.cos(angle)
        at += 2
        x[at : at + len(TASTE_NAMES)] = _taste_part(context)
        if self.probe is not None and probe is not None:
            n_tokens = float(len(query.corrected_tokens))
            x[at + len(TASTE_NAMES) :] = probe_part(probe, self.probe.depth, n_tokens)
        return np.array(x)

    def _query_part(self, query: UnderstoodQuery) -> list[float]:
        by_name = dict(zip(query.feature_names, query.features, strict=False))
        out = []
        for name, norm in zip(QUERY_FEATURE_NAMES, self._count_norm, strict=True):
            v = _finite(float(by_name.get(name, 0.0)))
            if norm:  # a count: squashed
                v = math.log1p(max(v, 0.0)) / norm
            out.append(min(max(v, -_CLIP), _CLIP))
        return out


def _finite(v: float) -> float:
    """NaN -> 0, +-inf -> +-``_CLIP`` (the columns are clipped to it anyway)."""
    if v != v:
        return 0.0
    return min(max(v, -_CLIP), _CLIP) if math.isinf(v) else v


def probe_part(scores: Sequence[float], depth: int, n_tokens: float) -> list[float]:
    """The ``PROBE_NAMES`` columns from the probe's top scores (see the module docstring)."""
    s = sorted(
        (0.0 if v != v else min(max(v, 0.0), _MAX_SCORE) for v in map(float, scores[:depth])),
        reverse=True,
    )
    out = [1.0] + [0.0] * (len(PROBE_NAMES) - 1)
    if not s or s[0] <= 0.0:
        return out
    top, n = s[0], len(s)
    mean = sum(s) / n
    out[1] = n / depth
    out[2] = math.log1p(top) / _TOP_SCALE
    out[3] = math.log1p(top / max(n_tokens, 1.0)) / _PER_TERM_SCALE
    out[4] = (top - s[1]) / top if n > 1 else 1.0
    out[5] = (top - s[-1]) / top
    out[6] = math.sqrt(sum((v - mean) ** 2 for v in s) / n) / mean if mean > 0 else 0.0
    return [min(max(v, -_CLIP), _CLIP) for v in out]


def _taste_part(context: Context) -> list[float]:
    """``has_user``, ``taste_n``, ``taste_max``, ``taste_entropy``."""
    values = [0.0 if v != v else min(max(v, 0.0), 1.0) for v in map(float, context.taste.values())]
    n = len(values)
    has_user = float(bool(context.user_id))
    if n == 0:
        return [has_user, 0.0, 0.0, 0.0]
    total = sum(values)
    entropy = 0.0
    if n > 1 and total > 0:
        entropy = -sum(v / total * math.log(v / total) for v in values if v > 0) / math.log(n)
    return [has_user, min(math.log1p(n) / _TASTE_SCALE, _CLIP), max(values), entropy]
