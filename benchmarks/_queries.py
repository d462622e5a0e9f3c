"""The mixed query set of the speed benchmarks: head queries repeat, as real traffic does.

Titles of the catalog's most popular entities, in popularity order, with a word of those
titles at every fifth rank (broad queries), drawn with Zipf frequencies (exponent 1); 15% of
the draws get one transposed keystroke. A title query carries the
entity it names (its ``target``: the warm-up traffic clicks it when shown, else reports it
found elsewhere); a word query is broad and has none.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ltrr.engine import Engine
from ltrr.errors import LtrrError
from ltrr.log.events import Action
from ltrr.types import EntityId


class Query(NamedTuple):
    text: str
    target: str | None


def mixed_queries(data: Path, n: int, seed: int, typo_share: float = 0.15) -> list[Query]:
    """``n`` queries over the data directory ``data``'s catalog (read-only)."""
    conn = sqlite3.connect(f"file:{data / 'ltrr.sqlite'}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT id, title FROM entities WHERE title != '' ORDER BY popularity DESC LIMIT 5000"
    ).fetchall()
    conn.close()
    rng = np.random.default_rng(seed)
    words = sorted({w for _, t in rows[:2000] for w in re.findall(r"[a-z]{4,}", t.lower())})
    broad = [Query(str(w), None) for w in rng.permutation(words)[:1000]]
    pool: list[Query] = []
    for entity_id, title in rows:
        if len(pool) % 5 == 4 and broad:
            pool.append(broad.pop())
        pool.append(Query(title, entity_id))
    weights = 1.0 / np.arange(1, len(pool) + 1)
    picks = rng.choice(len(pool), size=n, p=weights / weights.sum())
    out = []
    for j in picks.tolist():
        text, target = pool[j]
        if rng.random() < typo_share and len(text) > 4:
            at = int(rng.integers(1, len(text) - 1))
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        out.append(Query(text, target))
    return out


def warm_up(engine: Engine, queries: list[Query], t0: float, train: bool = True) -> dict[str, Any]:
    """Teach ``engine`` (a writer) from ``queries`` as users would: each title query's entity is
    clicked when shown, else reported found elsewhere; then, with ``train``, a LambdaMART model
    is trained when the log holds enough. Event time runs a minute per search from ``t0``, so
    each request's lessons settle (``[learn] settle_s``) two searches later and the policy
    learns as it goes. What happened, for the benchmark's JSON."""
    started = time.perf_counter()
    for n, query in enumerate(queries):
        t = t0 + 60.0 * n
        response = engine.search(query.text, event_time_s=t)
        if query.target is None:
            continue
        kind = "click" if query.target in {r.entity.id for r in response.results} else "found"
        engine.feedback(Action(action_id=f"warm-{n}-{response.request_id}",
                               request_id=response.request_id, user_id=f"u{n % 500}",
                               entity_id=EntityId(query.target), kind=kind,
                               event_time_s=t + 5.0))  # fmt: skip
    out: dict[str, Any] = {"warmup_s": round(time.perf_counter() - started, 1)}
    if train:
        try:
            report = engine.train()
            out["ranker"] = {"version": report.version, "accepted": report.accepted}
        except LtrrError as exc:
            out["ranker"] = {"error": str(exc)}
    return out
