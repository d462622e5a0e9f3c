"""Which entities clicks say a query wants: the policy's target on collections with many.

The policy learns, per strategy, whether its top-d held what the user wanted. One request
reveals one wanted item (its last positive action, ``learn.learner.Lessons``); when a query has
many relevant items the user acts on one of the shown ones, and a strategy that held *another*
relevant item is taught a miss. So cheap strategies, which hold some relevant item but rarely
the very one acted on, are underrated exactly where the found-rate needs them least deep.

Across the requests of one query the clicks say more. Per (query, entity) this keeps the
counts of the simplified dynamic Bayesian network click model (SDBN: Chapelle & Zhang, WWW
2009, section 5; the cascade assumption of Craswell et al., WSDM 2008): an entity was
*examined* in a request when it was acted on or shown above the deepest shown entity acted on
(the results ``learn.learner.passed_over`` counts as skipped), and *clicked* when acted on.
Its attractiveness alpha = P(click | examined) has the posterior Beta(1 + clicked,
1 + examined - clicked), and an entity is *known wanted* for the query once
P(alpha > ``evidence_attractiveness``) >= ``evidence_confidence``: examined users chose it more
often than not, with that confidence. Users click results that do not answer the query too
(informational users in the literature's click models click 40% of the non-relevant results
they examine), so a single click, or a request's set of clicks, is not such evidence; a high
click rate over the examinations is.

The policy's lesson (``widen``) then credits each strategy with the first rank, within the
depth it ran to, of the wanted item or of any known wanted entity of the query. A query seen
once keeps the lesson as it was. Nothing here reads judgements: only the log's actions and
shown pages, folded in log order, so a replay rebuilds the same counts (and snapshots keep
them).

Off by default. Measured (docs/learning.md, "Known wanted entities from click rates"): at
``evidence_attractiveness = 0.5`` Cranfield's cheap arms are predicted much closer to what they
find and its traffic costs 18% fewer candidates, but only entities that were *shown* can become
known, so the widened lessons credit the strategies whose results fill the page (the anchors)
and specialised strategies lose marginal value: on Spotify one seed of three dropped
``structured`` from topic queries it alone finds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ltrr.select.base import PlanFeedback
from ltrr.types import EntityId
from ltrr.understand.base import query_key

#: Queries whose counts are kept (the oldest first goes) and entities kept per query (the least
#: examined goes): bounds on memory, far above what one query's pages show.
MAX_KEYS = 200_000
MAX_PER_KEY = 200
#: Past this many examinations an entity's counts are halved (rounded down): recent pages weigh
#: more than old ones, and the posterior's tail stays a sum of at most this many terms.
MAX_EXAMINED = 64


def p_attractive(clicked: int, examined: int, threshold: float) -> float:
    """P(alpha > ``threshold``) under the posterior Beta(1 + clicked, 1 + examined - clicked).

    For integer counts that is P(Binomial(examined + 1, threshold) <= clicked) (the regularized
    incomplete beta function's binomial identity), summed here in log space.

    >>> round(p_attractive(4, 4, 0.5), 4)  # 1 - 0.5 ** 5
    0.9688
    >>> round(p_attractive(0, 0, 0.3), 4)  # the uniform prior
    0.7
    """
    n = examined + 1
    log_t, log_u = math.log(threshold), math.log1p(-threshold)
    total = 0.0
    for k in range(clicked + 1):
        log_comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        total += math.exp(log_comb + k * log_t + (n - k) * log_u)
    return min(total, 1.0)


class ClickEvidence:
    """Examined and clicked counts per (query key, entity), and the known wanted entities."""

    def __init__(self, attractiveness: float = 0.0, confidence: float = 0.95) -> None:
        #: ``[learn] evidence_attractiveness``: the click rate a known wanted entity exceeds
        #: (0: off, no counts are kept and lessons are unchanged).
        self.attractiveness = attractiveness
        #: ``[learn] evidence_confidence``: the posterior probability it must exceed it with.
        self.confidence = confidence
        #: query key -> entity -> [examined, clicked]; keys in insertion order (oldest first).
        self._counts: dict[int, dict[str, list[int]]] = {}
        self._wanted: dict[int, set[str]] = {}

    @property
    def on(self) -> bool:
        return self.attractiveness > 0.0

    def __len__(self) -> int:
        return len(self._counts)

    def observe(
        self,
        key: int | None,
        clicked: EntityId | None,
        skipped: Sequence[EntityId],
        counted: bool = False,
    ) -> None:
        """One action's evidence: ``clicked`` (None: already counted for this request) was
        examined and acted on, each of ``skipped`` examined and passed over; ``counted``:
        ``clicked`` was already counted as examined (passed over by an earlier action)."""
        if key is None or not self.on:
            return
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = {}
            if len(self._counts) > MAX_KEYS:  # the oldest query goes
                oldest = next(iter(self._counts))
                del self._counts[oldest]
                self._wanted.pop(oldest, None)
        touched = [(e, 0) for e in skipped]
        if clicked is not None:
            touched.append((clicked, 1))
        for entity, click in touched:
            pair = counts.setdefault(str(entity), [0, 0])
            pair[0] += 0 if click and counted else 1
            pair[1] += click
            if pair[0] > MAX_EXAMINED:
                pair[0], pair[1] = pair[0] // 2, pair[1] // 2
            self._judge(key, str(entity), pair)
        if len(counts) > MAX_PER_KEY:  # the least examined goes
            least = min(counts.items(), key=lambda ec: (ec[1][0], ec[0]))[0]
            del counts[least]
            self._wanted.get(key, set()).discard(least)

    def _judge(self, key: int, entity: str, pair: list[int]) -> None:
        p = p_attractive(pair[1], pair[0], self.attractiveness)
        wanted = self._wanted.setdefault(key, set())
        if p >= self.confidence:
            wanted.add(entity)
        else:
            wanted.discard(entity)

    def wanted(self, key: int | None) -> frozenset[str]:
        """The entities the clicks say query ``key`` wants (empty when none or off)."""
        if key is None:
            return frozenset()
        return frozenset(self._wanted.get(key, ()))

    def widen(self, feedback: PlanFeedback) -> PlanFeedback:
        """``feedback`` with each strategy's rank the first of the wanted item's and any known
        wanted entity's in its list (``PlanFeedback.lists``); unchanged when nothing is known."""
        if not self.on or not feedback.lists:
            return feedback
        known = self.wanted(query_key(feedback.request.query))
        if not known:
            return feedback
        ranks = dict(feedback.found_rank)
        for strategy, ids in feedback.lists.items():
            first = next((i for i, e in enumerate(ids, start=1) if e in known), None)
            if first is None:
                continue
            own = ranks.get(strategy)
            ranks[strategy] = first if own is None else min(own, first)
        if ranks == dict(feedback.found_rank):
            return feedback
        return replace(feedback, found_rank=ranks)

    # -- persistence ---------------------------------------------------------------------

    def state(self) -> list[list[Any]]:
        """JSON-ready and exact: ``[[key, [[entity, examined, clicked], ...]], ...]``."""
        return [[k, [[e, n, c] for e, (n, c) in ec.items()]] for k, ec in self._counts.items()]

    def restore(self, state: Sequence[Any]) -> None:
        """Put back the counts ``state`` describes (loading a snapshot)."""
        self._counts, self._wanted = {}, {}
        for key, entries in state:
            counts = self._counts[int(key)] = {}
            for entity, n, c in entries:
                pair = counts[str(entity)] = [int(n), int(c)]
                self._judge(int(key), str(entity), pair)
