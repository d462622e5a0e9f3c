"""Simulated users over HTTP: the simulator's traffic and click models against a running service.

``ltrr simulate`` runs the learning loop in process; this module sends the same users to a
service (``ltrr serve``), so its dashboard shows the plans change as it learns. Queries and
their relevant entities come from a benchmark in BEIR layout built from the served catalog
(every judged query of every split: live traffic has no unseen pool to hold out). Per search:

1. ``traffic.draw_traffic`` picks the query (Zipf over the queries), the user, session and
   context, and the uniforms of the user's clicks; a seed gives the same searches every time.
2. ``POST /v1/search`` ``{query, k: 10, context}``; the top 10 results are the shown list.
3. The click model acts on it (``live.user_acts``: a cascade or the position-based model on
   the qrels, and a ``found`` action on a relevant entity when none was shown, with
   probability ``found_elsewhere``); the actions go in one ``POST /v1/feedback/batch``,
   action ids ``<request id>-c<position>`` and ``<request id>-f``, event times stamped by the
   server.

The service learns only from these actions, never from the qrels. The summary counts what was
sent and answered, the found-rate (the shown page held a relevant entity; the response lists
only the page, so the candidates' found-rate is not known here), the shown page's nDCG@10
and the plan mix per query class in the first and the last quarter of the run (the top plans,
and per strategy the share of searches that ran it and its mean depth). HTTP trouble never
raises: the run stops (``stopped_early`` says why) at a connection failure, a 401 or 403, a
malformed answer, or ``MAX_CONSECUTIVE_ERRORS`` failed searches in a row.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ltrr.select.fixed import plan_name
from ltrr.simulate.clicks import ClickModel, click_model
from ltrr.simulate.fixed import ranking_metrics
from ltrr.simulate.live import Judged, judge, user_acts
from ltrr.simulate.params import SHOWN, SimulateParams
from ltrr.simulate.pools import read_judged
from ltrr.simulate.traffic import Traffic, draw_traffic
from ltrr.types import EntityId

#: Failed searches in a row after which a run stops (the service is unlikely to recover).
MAX_CONSECUTIVE_ERRORS = 10
#: Plans listed per class and quarter in the summary; the rest are summed as "other".
TOP_PLANS = 5
SEARCH_PATH, FEEDBACK_PATH = "/v1/search", "/v1/feedback/batch"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: the status and decoded body, or ``status=None`` and what went wrong."""

    status: int | None
    body: Any = None
    error: str | None = None


#: (path, JSON body) -> Reply; ``http_poster`` makes one from an httpx (or Test) client.
Post = Callable[[str, dict[str, Any]], Reply]


def http_poster(client: httpx.Client, api_key: str | None = None) -> Post:
    """POST JSON through ``client`` (its ``base_url`` names the service), with ``X-API-Key``
    when ``api_key`` is given; transport failures become a ``Reply`` without status."""
    headers = {"X-API-Key": api_key} if api_key else {}

    def post(path: str, payload: dict[str, Any]) -> Reply:
        try:
            response = client.post(path, json=payload, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Reply(None, error=f"cannot reach {client.base_url}{path}: {exc}")
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Reply(response.status_code, body)

    return post


@dataclass(frozen=True, slots=True)
class Audience:
    """The benchmark's queries as users know them, and how they click."""

    query_ids: tuple[str, ...]
    texts: Mapping[str, str]
    classes: Mapping[str, str | None]
    judged: Judged
    click: ClickModel


def read_audience(benchmark: Path, model: str, eta: float = 1.0) -> Audience:
    """Every judged query of ``benchmark`` and the click model ``model`` for its grades
    (``eta``: the position-based models' examination exponent).

    Raises ``ConfigError`` for an unknown model (naming the allowed ones) and ``CatalogError``
    for a directory that is not a benchmark.
    """
    click_model(model, eta=eta)  # an unknown name fails before the benchmark is read
    texts, classes, qrels = read_judged(benchmark)
    max_grade = max((g for judged in qrels.values() for g in judged.values()), default=1)
    click = click_model(model, max_grade, eta)
    return Audience(tuple(texts), texts, classes, judge(qrels, click), click)


@dataclass(frozen=True, slots=True)
class Sent:
    """One answered search: its class, the plan the service chose and what the user did."""

    query_class: str
    plan: str
    depths: Mapping[str, int]
    n_candidates: int | None
    found: bool
    ndcg: float
    n_clicks: int
    found_elsewhere: bool


@dataclass(slots=True)
class Tally:
    """What a run sent and got back; ``summary()`` is the JSON-ready report."""

    n_planned: int
    sent: list[Sent]
    n_searches: int = 0
    n_feedback_stored: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    stopped_early: str | None = None

    def error(self, status: int | None, where: str, reply: Reply) -> None:
        key = "no answer" if status is None else str(status)
        self.errors[key] += 1
        detail = reply.error if status is None else _detail(reply.body)
        self.error_examples.setdefault(key, f"POST {where}: {detail}")

    def summary(self) -> dict[str, Any]:
        sent = self.sent
        quarter = max(len(sent) // 4, 1)
        return {
            "n_searches_planned": self.n_planned,
            "n_searches_sent": self.n_searches,
            "n_searches_answered": len(sent),
            "n_clicks": sum(s.n_clicks for s in sent),
            "n_found_elsewhere": sum(s.found_elsewhere for s in sent),
            "n_feedback_stored": self.n_feedback_stored,
            "http_errors": dict(self.errors),
            "http_error_examples": dict(self.error_examples),
            "found_rate": _rate([s.found for s in sent]),
            "ndcg_at_10": _mean([s.ndcg for s in sent]),
            "candidates_found_rate": None,  # the response lists only the shown page
            "first_quarter": _window(sent[:quarter]),
            "last_quarter": _window(sent[-quarter:] if sent else []),
            "stopped_early": self.stopped_early,
        }


def _detail(body: Any) -> str:
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:300]


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def _window(sent: Sequence[Sent]) -> dict[str, Any]:
    """Found-rate, candidates and plan mix (share per plan) per query class of ``sent``."""
    by_class: dict[str, list[Sent]] = {}
    for s in sent:
        by_class.setdefault(s.query_class, []).append(s)
    return {
        "n_searches": len(sent),
        "found_rate": _rate([s.found for s in sent]),
        "ndcg_at_10": _mean([s.ndcg for s in sent]),
        "plan_mix": {c: _plans(group) for c, group in sorted(by_class.items())},
    }


def _plans(sent: Sequence[Sent]) -> dict[str, Any]:
    counts = Counter(s.plan for s in sent)
    top = dict(counts.most_common(TOP_PLANS))
    other = len(sent) - sum(top.values())
    shares = {name: round(n / len(sent), 4) for name, n in top.items()}
    if other:
        shares["other"] = round(other / len(sent), 4)
    candidates = [s.n_candidates for s in sent if s.n_candidates is not None]
    return {
        "n_searches": len(sent),
        "found_rate": _rate([s.found for s in sent]),
        "candidates_per_search": round(sum(candidates) / len(candidates), 2)
        if candidates
        else None,
        "plans": shares,
        "strategies": _strategies(sent),
    }


def _strategies(sent: Sequence[Sent]) -> dict[str, dict[str, float]]:
    """Per strategy: the share of searches that ran it and its mean depth when it ran."""
    depths: dict[str, list[int]] = {}
    for s in sent:
        for strategy, depth in s.depths.items():
            if depth > 0:
                depths.setdefault(strategy, []).append(depth)
    return {
        name: {"share": round(len(d) / len(sent), 4), "mean_depth": round(sum(d) / len(d), 1)}
        for name, d in sorted(depths.items())
    }


def search_body(audience: Audience, traffic: Traffic, queries: Sequence[str], i: int) -> Any:
    """The ``POST /v1/search`` body of search ``i``: its query, ``k`` 10 and the context."""
    c = traffic.context(i)
    context = {
        "user_id": c.user_id, "session_id": c.session_id, "segment": c.segment,
        "locale": c.locale, "device": c.device, "hour": c.hour, "taste": dict(c.taste),
    }  # fmt: skip
    return {"query": audience.texts[queries[int(traffic.query[i])]], "k": SHOWN, "context": context}


def send_traffic(
    post: Post,
    audience: Audience,
    n_searches: int,
    params: SimulateParams,
    *,
    seed: int = 0,
    taste: Sequence[str] = (),
    rate: float | None = None,
    on_search: Callable[[int, Tally], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Tally:
    """Send ``n_searches`` simulated searches (at most ``rate`` per second) and their actions.

    ``on_search(i, tally)`` is called after each search (for progress).
    """
    traffic = draw_traffic(len(audience.query_ids), n_searches, params, seed, taste)
    tally = Tally(n_searches, [])
    started, failed_in_a_row = clock(), 0
    for i in range(n_searches):
        if rate is not None and rate > 0:
            sleep(max(0.0, started + i / rate - clock()))
        ok = _one_search(post, audience, traffic, params, i, tally)
        failed_in_a_row = 0 if ok else failed_in_a_row + 1
        if failed_in_a_row >= MAX_CONSECUTIVE_ERRORS and tally.stopped_early is None:
            examples = "; ".join(f"{k}: {v}" for k, v in tally.error_examples.items())
            tally.stopped_early = f"{failed_in_a_row} failed searches in a row; {examples}"
        if on_search is not None:
            on_search(i, tally)
        if tally.stopped_early is not None:
            break
    return tally


def _one_search(
    post: Post, audience: Audience, traffic: Traffic, params: SimulateParams, i: int, tally: Tally
) -> bool:
    """Search ``i`` and its feedback; whether the search was answered."""
    queries = audience.query_ids
    query_id = queries[int(traffic.query[i])]
    reply = post(SEARCH_PATH, search_body(audience, traffic, queries, i))
    tally.n_searches += 1
    if not _check(reply, SEARCH_PATH, tally):
        return False
    body = reply.body
    try:
        request_id = str(body["request_id"])
        shown = [EntityId(str(r["id"])) for r in body["results"][:SHOWN]]
        depths = {str(s): int(d) for s, d in body["plan"]["depths"].items()}
        n_candidates = body.get("n_candidates")
    except (KeyError, TypeError, ValueError, AttributeError):
        tally.stopped_early = f"POST {SEARCH_PATH} answered without request_id, results or plan"
        return False
    clicked, elsewhere = user_acts(
        audience.judged, audience.click, params.found_elsewhere, query_id, shown, traffic, i
    )
    user = traffic.context(i).user_id
    actions = [_action(f"{request_id}-c{j}", request_id, shown[j], "click", user) for j in clicked]
    if elsewhere is not None:
        actions.append(_action(f"{request_id}-f", request_id, elsewhere, "found", user))
    if actions:
        feedback = post(FEEDBACK_PATH, {"actions": actions})
        if _check(feedback, FEEDBACK_PATH, tally) and isinstance(feedback.body, dict):
            tally.n_feedback_stored += int(feedback.body.get("n_stored", 0))
    judged = audience.judged
    found = not judged.relevant[query_id].isdisjoint(shown)
    ndcg, _ = ranking_metrics(shown, judged.grades[query_id], judged.idcg[query_id])
    query_class = audience.classes.get(query_id) or "(none)"
    plan = plan_name(depths) or "(none)"
    n_cand = int(n_candidates) if isinstance(n_candidates, int) else None
    acted = len(clicked), elsewhere is not None
    tally.sent.append(Sent(query_class, plan, depths, n_cand, found, ndcg, *acted))
    return True


def _action(
    action_id: str, request_id: str, entity_id: str, kind: str, user: str | None
) -> dict[str, Any]:
    action = {"action_id": action_id, "request_id": request_id, "entity_id": entity_id}
    return {**action, "kind": kind, **({"user_id": user} if user else {})}


def _check(reply: Reply, where: str, tally: Tally) -> bool:
    """Whether ``reply`` succeeded; else count it, and stop the run when retrying is futile."""
    if reply.status is not None and 200 <= reply.status < 300:
        return True
    tally.error(reply.status, where, reply)
    if reply.status is None:
        tally.stopped_early = reply.error or f"no answer to POST {where}"
    elif reply.status in (401, 403):
        tally.stopped_early = (
            f"POST {where} answered {reply.status} ({_detail(reply.body)}): "
            "the service wants an API key of scope search in X-API-Key"
        )
    return False
