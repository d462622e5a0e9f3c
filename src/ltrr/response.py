"""What a search returns, and its one JSON form (the CLI's ``--json`` and the HTTP API alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ltrr.select.base import Plan
from ltrr.types import Entity
from ltrr.understand.base import UnderstoodQuery


@dataclass(frozen=True, slots=True)
class Result:
    """A shown entity, its fused score, and ``{strategy: (1-based rank, score)}``."""

    entity: Entity
    score: float
    provenance: Mapping[str, tuple[int, float]]


@dataclass(frozen=True, slots=True)
class SearchResponse:
    request_id: str
    query: UnderstoodQuery
    plan: Plan
    results: tuple[Result, ...]
    n_candidates: int
    strategy_latency_ms: Mapping[str, float]
    latency_ms: float
    model_versions: Mapping[str, str] = field(default_factory=dict)
    #: Milliseconds per stage: setup, understand, plan, retrieve, rank (with filters and the
    #: page's entities), log.
    stage_latency_ms: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the understood query, the plan with its probabilities and the model
        versions, each result with its provenance, and the latency per stage."""
        q = self.query
        return {
            "request_id": self.request_id,
            "query": q.raw,
            "corrected": q.corrected,
            "correction_distance": q.correction_distance,
            "intent": q.intent,
            "spans": [
                {
                    "start": s.start,
                    "end": s.end,
                    "kind": s.kind,
                    "label": s.label,
                    "value": s.value,
                    "confidence": round(s.confidence, 3),
                }
                for s in q.spans
            ],
            "plan": {**self.plan.to_dict(), "model_versions": dict(self.model_versions)},
            "n_candidates": self.n_candidates,
            "latency_ms": round(self.latency_ms, 3),
            "stage_latency_ms": {n: round(v, 3) for n, v in self.stage_latency_ms.items()},
            "strategy_latency_ms": {n: round(v, 3) for n, v in self.strategy_latency_ms.items()},
            "results": [
                {
                    "id": r.entity.id,
                    "type": r.entity.type,
                    "title": r.entity.title,
                    "fields": dict(r.entity.fields),
                    "score": r.score,
                    "found_by": {
                        name: {"rank": rank, "score": score}
                        for name, (rank, score) in r.provenance.items()
                    },
                }
                for r in self.results
            ],
        }
