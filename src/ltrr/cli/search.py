"""``ltrr index`` and ``ltrr search``: build the indexes of a data directory, then query it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ltrr.cli.common import (
    ConfigOption,
    DataOption,
    JsonOption,
    config_for,
    print_json,
    progress,
    resolve_data,
    stderr,
    stdout,
)
from ltrr.config import Config, defaults
from ltrr.engine import Engine
from ltrr.errors import LockedError
from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.response import SearchResponse
from ltrr.retrieve.indexes import Progress
from ltrr.types import Context, EntityId

# Help texts are rich markup: a literal "[section]" is escaped, or rich drops it as a tag.
StrategiesOption = Annotated[
    str | None,
    typer.Option(
        "--strategies",
        help=f"Comma-separated strategies (default: {escape('[select]')} strategies).",
    ),
]
#: The action kinds ``[log.rewards]`` of the default settings accepts, in their order there.
DEFAULT_KINDS: tuple[str, ...] = tuple(RewardMap.from_config(Config(defaults())).kind_to_reward)


def _names(strategies: str | None) -> list[str] | None:
    return [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None


@contextmanager
def index_progress() -> Iterator[Progress]:
    """A spinner on stderr naming the index being built and how many entities it has read."""
    with progress("indexing") as bar:

        def report(name: str, n: int) -> None:
            bar.update(bar.task_ids[0], description=f"indexing {name}", completed=n)

        yield report


def index(
    strategies: StrategiesOption = None,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build, or catch up with the catalog, the indexes of the data directory, and save them."""
    path = resolve_data(data)
    with (
        index_progress() as report,
        Engine.open(
            path,
            config_for(config, path),
            strategies=_names(strategies),
            writer=True,
            on_progress=report,
        ) as engine,
    ):
        status = engine.indexes.status
        version = engine.indexes.catalog_version
    rows = [
        {"index": s.name, "how": s.how, "seconds": round(s.seconds, 2), "n_changes": s.n_changes}
        for s in status
    ]
    if as_json:
        print_json({"catalog_version": version, "indexes": rows})
        return
    table = Table(title=f"indexes at catalog version {version}")
    for column in ("index", "how", "seconds", "changes"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    stdout.print(table)


def _open_for_search(path: Path, config: Config, strategies: list[str] | None) -> Engine:
    """A writer (searches are logged, feedback can follow); a reader if another process writes."""
    try:
        return Engine.open(path, config, strategies=strategies, writer=True)
    except LockedError as exc:
        stderr.print(f"[yellow]not logging this search:[/] {escape(str(exc))}")
        return Engine.open(path, config, strategies=strategies, writer=False)


def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Results to show.")] = 10,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    strategies: StrategiesOption = None,
    user: Annotated[str | None, typer.Option("--user", help="User id (context).")] = None,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the catalog; each result shows which strategies found it, at which rank and score.

    The policy plans which strategies run and how deep; the search is logged, and its request
    id can be given to ``ltrr feedback``. ``--strategies`` runs those strategies instead.
    """
    path = resolve_data(data)
    with _open_for_search(path, config_for(config, path), _names(strategies)) as engine:
        response = engine.search(
            query, Context(user_id=user), k=k, offset=offset, strategies=_names(strategies)
        )
    if as_json:
        print_json(response.to_dict())
    else:
        _print(response)


def feedback(
    request_id: Annotated[str, typer.Argument(help="The request id a search printed.")],
    entity_id: Annotated[str, typer.Argument(help="The entity acted on.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help=f"Action kind: one of {', '.join(DEFAULT_KINDS)} (the kinds of "
            f"{escape('[log.rewards]')} in the settings).",
        ),
    ] = "click",
    value: Annotated[float | None, typer.Option("--value", help="e.g. dwell seconds.")] = None,
    action_id: Annotated[
        str | None, typer.Option("--action-id", help="Idempotency key (default: random).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an action on a search's result (durable, idempotent) and learn from it."""
    path = resolve_data(data)
    action = Action(
        action_id=action_id or uuid.uuid4().hex,
        request_id=request_id,
        user_id=user,
        entity_id=EntityId(entity_id),
        kind=kind,
        value=value,
        event_time_s=time.time(),
    )
    with Engine.open(path, config_for(config, path), writer=True) as engine:
        accepted = engine.feedback(action)
    payload = {"action_id": action.action_id, "accepted": accepted}
    if as_json:
        print_json(payload)
    elif accepted:
        stdout.print(f"recorded {kind} on {entity_id} for request {request_id}", markup=False)
    else:
        stdout.print(f"action {action.action_id} was already recorded; nothing changed")


def replay(
    data: DataOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Rebuild every learned state (memory index, exposure, policy) from the event log alone."""
    path = resolve_data(data)
    with Engine.open(path, config_for(config, path), writer=True) as engine:
        result = engine.replay()
    if as_json:
        print_json(result)
    else:
        stdout.print(
            f"replayed {result['n_impressions']:,} impressions and {result['n_actions']:,} "
            f"actions ({result['n_policy_updates']:,} policy updates) in {result['seconds']} s"
        )


def _print(response: SearchResponse) -> None:
    q = response.query
    header = f"[bold]{escape(q.raw)}[/]"
    if q.corrected != q.text:
        header += f"  (corrected: {escape(q.corrected)})"
    tags = ", ".join(f"{s.label}={escape(s.value)}" for s in q.spans)
    stdout.print(f"{header}  intent: {q.intent}" + (f"  tags: {tags}" if tags else ""))
    plan = ", ".join(f"{s}@{d}" for s, d in response.plan.depths.items() if d > 0)
    stdout.print(
        f"request {response.request_id}  plan ({response.plan.policy}): {plan or 'nothing'}",
        highlight=False,
    )
    table = Table(show_lines=False)
    for column in ("#", "type", "title", "found by (rank, score)"):
        table.add_column(column)
    for i, r in enumerate(response.results, start=1):
        found = ", ".join(
            f"{name} #{rank} ({score:.3g})" for name, (rank, score) in sorted(r.provenance.items())
        )
        artist = r.entity.fields.get("artist")
        title = r.entity.title + (f" — {artist}" if artist else "")
        table.add_row(str(i), r.entity.type, escape(title), found)
    stdout.print(table)
    stdout.print(
        f"{response.n_candidates} candidates, {response.latency_ms:.1f} ms "
        f"({', '.join(f'{n} {v:.2f}' for n, v in response.strategy_latency_ms.items())})"
    )


def snapshot(
    data: DataOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Snapshot learned state at the log's end, so the next start replays only what follows."""
    path = resolve_data(data)
    with Engine.open(path, config_for(config, path), writer=True) as engine:
        written = engine.snapshot()
        position = engine.follower.position if engine.follower else 0
    payload = {"snapshot": None if written is None else str(written), "log_position": position}
    if as_json:
        print_json(payload)
    elif written is None:
        stdout.print(f"a snapshot at log position {position:,} exists already")
    else:
        stdout.print(f"wrote {written} (log position {position:,})", markup=False)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("search")(search)
    app.command("feedback")(feedback)
    app.command("snapshot")(snapshot)
    app.command("replay")(replay)
