"""Retrieval metrics by name (``"ndcg@10"``, ``"recall@100"``, ``"mrr@10"``, ``"success@10"``).

Computed by pytrec_eval (Van Gysel & de Rijke, SIGIR 2018), the trec_eval bindings BEIR
reports with, so numbers compare with published ones. Two trec_eval conventions are handled
here so that they cannot skew a mean:

- trec_eval ranks by score and breaks ties by document id, not by the order given; a ranked
  list is therefore passed with strictly decreasing scores (``n, n - 1, ...``), so the
  evaluated order is exactly the retriever's order.
- trec_eval leaves out a query with no retrieved document; here such a query scores 0 and
  means run over every judged query.

``mrr@k`` is trec_eval's ``recip_rank`` on the list cut at ``k`` (trec_eval has no cutoff
for it); a judgement >= 1 is relevant, as in trec_eval's default ``relevance_level``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pytrec_eval

from ltrr.errors import ConfigError

#: Metrics ``ltrr evaluate`` reports per strategy, and per query class.
METRICS = ("ndcg@10", "recall@100", "mrr@10")
CLASS_METRICS = ("success@10", "mrr@10")

#: ltrr metric name -> trec_eval measure family (``mrr`` is handled apart).
_FAMILIES = {
    "ndcg": "ndcg_cut",
    "recall": "recall",
    "success": "success",
    "p": "P",
    "map": "map_cut",
}
_NAME = re.compile(r"(ndcg|recall|success|p|map|mrr)@([1-9][0-9]*)")


def _parse(metric: str) -> tuple[str, int]:
    match = _NAME.fullmatch(metric)
    if match is None:
        allowed = ", ".join(f"{f}@K" for f in (*_FAMILIES, "mrr"))
        raise ConfigError(f"unknown metric {metric!r}; allowed: {allowed}")
    return match.group(1), int(match.group(2))


def per_query(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str]],
    metrics: Iterable[str] = METRICS,
) -> dict[str, dict[str, float]]:
    """Each metric for each judged query of ``qrels``.

    Parameters
    ----------
    qrels
        Query id -> entity id -> relevance grade.
    run
        Query id -> retrieved entity ids, best first (a repeated id keeps its first place).
    metrics
        Metric names such as ``"ndcg@10"``.

    Returns
    -------
    Query id -> metric -> value, for every query of ``qrels`` (0 when it retrieved nothing).
    """
    parsed = {m: _parse(m) for m in metrics}
    judged = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()}
    result = {q: dict.fromkeys(parsed, 0.0) for q in judged}
    trec = {m: f"{_FAMILIES[f]}_{k}" for m, (f, k) in parsed.items() if f != "mrr"}
    if trec:
        measures = {f"{_FAMILIES[f]}.{k}" for f, k in (parsed[m] for m in trec)}
        _fill(result, judged, _scored(run, judged, None), measures, trec)
    for cutoff in sorted({k for f, k in parsed.values() if f == "mrr"}):
        names = {m: "recip_rank" for m, (f, k) in parsed.items() if f == "mrr" and k == cutoff}
        _fill(result, judged, _scored(run, judged, cutoff), {"recip_rank"}, names)
    return result


def mean(values: Mapping[str, Mapping[str, float]], query_ids: Iterable[str]) -> dict[str, float]:
    """Metric -> mean over ``query_ids`` (each must be in ``values``); empty ids give ``{}``."""
    rows = [values[q] for q in query_ids]
    if not rows:
        return {}
    return {m: float(np.mean([row[m] for row in rows])) for m in rows[0]}


def _scored(
    run: Mapping[str, Sequence[str]], judged: Mapping[str, object], cutoff: int | None
) -> dict[str, dict[str, float]]:
    """The run as trec_eval scores: strictly decreasing in the given order, judged queries only."""
    scored = {}
    for query_id in judged:
        ranked = list(dict.fromkeys(run.get(query_id, ())))[:cutoff]
        scored[query_id] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    return scored


def _fill(
    result: dict[str, dict[str, float]],
    judged: dict[str, dict[str, int]],
    scored: dict[str, dict[str, float]],
    measures: set[str],
    names: Mapping[str, str],
) -> None:
    evaluated = pytrec_eval.RelevanceEvaluator(judged, measures).evaluate(scored)
    for query_id, values in evaluated.items():
        for metric, key in names.items():
            result[query_id][metric] = float(values[key])
