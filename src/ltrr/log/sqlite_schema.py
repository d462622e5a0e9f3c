"""How events map to rows of the data directory's SQLite database.

Impressions keep their nested parts (context, plan, strategy lists, shown list, model versions)
as JSON text columns, readable with SQLite's JSON functions; ranked lists are stored by column
(``{"lexical": {"ids": [...], "scores": [...]}}``), compact and cheap to turn into arrays.
``seq`` is shared by both tables: the order in which the log wrote the events.

The tables themselves are created by migration 3 of ``storage.sqlite`` (with the rest of the
data directory's schema, under one ``PRAGMA user_version``); this module only reads and writes
their rows.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from ltrr.log.events import (
    Action,
    Impression,
    ImpressionHead,
    LoggedFeatures,
    context_from_dict,
    context_to_dict,
    plan_to_dict,
    results_from_dict,
    results_to_dict,
)
from ltrr.select.base import plan_from_dict

IMP_COLS = (
    "seq, request_id, user_id, session_id, query, context, plan, strategy_results, shown, "
    "page_offset, catalog_version, model_versions, event_time_s, schema_version, strategy_ms"
)
ACT_COLS = (
    "seq, action_id, request_id, user_id, entity_id, kind, value, event_time_s, "
    "replay_time_s, schema_version"
)
#: The last log position written (0 for an empty log), over both tables.
MAX_SEQ = (
    "SELECT max(coalesce((SELECT max(seq) FROM impressions), 0), "
    "coalesce((SELECT max(seq) FROM actions), 0))"
)
INSERT_IMP = f"INSERT OR IGNORE INTO impressions ({IMP_COLS}) VALUES ({', '.join('?' * 15)})"
#: An action's replay time is read from its stored impression inside the writing transaction:
#: the impression that was stored (the first of its request id) is the one it is ordered after.
#: No row is written when the action id exists or the impression does not.
INSERT_ACT = (
    f"INSERT OR IGNORE INTO actions ({ACT_COLS}) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, max(?, event_time_s), ? FROM impressions "
    "INDEXED BY impressions_page WHERE request_id = ?"
)


INSERT_FEATURES = (
    "INSERT OR IGNORE INTO features (request_id, fingerprint, n_rows, n_cols, ids, x) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
FEATURE_COLS = "request_id, fingerprint, n_rows, n_cols, ids, x"


def features_row(request_id: str, features: LoggedFeatures) -> tuple[Any, ...]:
    """A ``features`` row: float32 rows compressed (most are small integers and NaN runs)."""
    x = np.ascontiguousarray(features.x, dtype="<f4")
    n_rows, n_cols = x.shape
    packed = zlib.compress(x.tobytes(), 1)
    return (request_id, features.fingerprint, n_rows, n_cols, "\n".join(features.ids), packed)


def features_from_row(row: Sequence[Any]) -> LoggedFeatures:
    n_rows, n_cols = int(row[2]), int(row[3])
    x = np.frombuffer(zlib.decompress(row[5]), dtype="<f4").reshape(n_rows, n_cols)
    ids = tuple(row[4].split("\n")) if n_rows else ()
    return LoggedFeatures(row[1], ids, x.astype(np.float32))


def impression_row(imp: Impression) -> tuple[Any, ...]:
    dumps = orjson.dumps
    return (
        imp.request_id,
        imp.user_id,
        imp.session_id,
        imp.query,
        dumps(context_to_dict(imp.context)).decode(),
        dumps(plan_to_dict(imp.plan)).decode(),
        dumps(results_to_dict(imp.strategy_results)).decode(),
        dumps(list(imp.shown)).decode(),
        imp.offset,
        imp.catalog_version,
        dumps(dict(imp.model_versions)).decode(),
        float(imp.event_time_s),
        imp.schema_version,
        dumps({s: round(float(ms), 4) for s, ms in imp.strategy_ms.items()}).decode(),
    )


def action_row(action: Action) -> tuple[Any, ...]:
    time_s = float(action.event_time_s)
    return (
        action.action_id,
        action.request_id,
        action.user_id,
        action.entity_id,
        action.kind,
        None if action.value is None else float(action.value),
        time_s,
        time_s,
        action.schema_version,
        action.request_id,
    )


def impression_from_row(row: Sequence[Any]) -> Impression:
    loads = orjson.loads
    return Impression(
        request_id=row[1],
        user_id=row[2],
        session_id=row[3],
        query=row[4],
        context=context_from_dict(loads(row[5])),
        plan=plan_from_dict(loads(row[6])),
        strategy_results=results_from_dict(loads(row[7])),
        shown=tuple(loads(row[8])),
        offset=row[9],
        catalog_version=row[10],
        model_versions=loads(row[11]),
        event_time_s=row[12],
        schema_version=row[13],
        strategy_ms=loads(row[14]),
    )


def action_from_row(row: Sequence[Any]) -> Action:
    return Action(
        action_id=row[1],
        request_id=row[2],
        user_id=row[3],
        entity_id=row[4],
        kind=row[5],
        value=row[6],
        event_time_s=row[7],
        schema_version=row[9],
    )


def merged_events(
    imps: Sequence[tuple[Any, ...]], acts: Sequence[tuple[Any, ...]], limit: int
) -> list[tuple[int, ImpressionHead | Action]]:
    """The first ``limit`` events of two position-ordered pages (impression rows ``seq, 0,
    request_id, shown, event_time_s``; action rows ``seq, 1, *ACT_COLS``), in log order: both
    logs' ``events_after``."""
    rows = list(heapq.merge(imps, acts))[:limit]
    loads = orjson.loads
    return [
        (
            int(r[0]),
            ImpressionHead(r[2], tuple(loads(r[3])), r[4]) if r[1] == 0 else action_from_row(r[2:]),
        )
        for r in rows
    ]
