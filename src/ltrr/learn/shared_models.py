"""One ranker for every replica of a log: the accepted model published through shared state.

Without shared state each replica retrains LambdaMART from the same log on its own schedule and
serves its own version. With it (``storage.shared``), a replica trains only while it holds the
``train`` lease, and publishes each model it accepts, at the log position it was trained at;
every replica polls the entry (one small read a second) and installs a newer model into its own
registry (``rank.registry``: versioned, so ``ltrr rollback`` keeps working per replica), from
where the usual refresh serves it. The model's text is LightGBM's own format, so every replica
scores with the very trees the trainer validated. The workers of one replica share its
directory: one installs the model (under the directory's train lock) and the others find it
installed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ltrr.errors import StorageError
from ltrr.rank.lambdamart import RankModel
from ltrr.rank.registry import ModelRegistry
from ltrr.storage.shared import Published, SharedState

logger = logging.getLogger(__name__)
#: How long a replica may hold the train lease after it died without releasing it.
TRAIN_LEASE_S = 120.0


def entry_name(fingerprint: str) -> str:
    """The shared entry of models over the feature set ``fingerprint`` (a replica with other
    features neither reads nor overwrites it)."""
    return f"ranker:{fingerprint}"


def publish_model(
    shared: SharedState, model: RankModel, version: str, at: tuple[str, int], debias: str
) -> bool:
    """Publish an accepted ``model`` (this replica's ``version``) trained at ``at``, the log's
    (epoch, position); whether it is now the published one (a later position wins)."""
    epoch, position = at
    meta = {
        "features": list(model.names), "fingerprint": model.fingerprint,
        "trained_as": version, "debias": debias,
    }  # fmt: skip
    entry = Published(position, meta, model.to_string().encode(), epoch)
    return shared.publish(entry_name(model.fingerprint), entry)


def pull_model(
    shared: SharedState,
    registry: ModelRegistry,
    fingerprint: str,
    names: Sequence[str],
    after: tuple[str, int],
) -> int | None:
    """Install the published model into ``registry`` (serving it) if it was trained on the
    log of ``after``'s epoch at a later position than ``after``'s; that position, or None
    when there is nothing newer (or only a model of a log since dropped and recreated).

    A published model of another feature set, or one that does not load, is logged and
    skipped (its position is returned, so it is not fetched again)."""
    name = entry_name(fingerprint)
    head = shared.published(name)
    if head is None or head.epoch != after[0] or head.position <= after[1]:
        return None
    entry = shared.fetch(name)
    if entry is None or entry.blob is None:
        return None
    try:
        model = RankModel.from_string(
            entry.blob.decode(), list(entry.meta["features"]), str(entry.meta["fingerprint"])
        )
        model.check_features(fingerprint, names)
    except (StorageError, KeyError, ValueError) as exc:
        logger.error("published ranker model at log position %d not used: %s", entry.position, exc)
        return entry.position
    if not _installed(registry, entry):  # another worker of this directory may have
        fields = {
            "published": True, "log_position": entry.position, "epoch": entry.epoch,
            "trained_as": entry.meta.get("trained_as"), "debias": entry.meta.get("debias"),
        }  # fmt: skip
        registry.add(model, fields, accepted=True)
    return entry.position


def _installed(registry: ModelRegistry, entry: Published) -> bool:
    for info in reversed(registry.versions()):
        m = info.manifest
        if m.get("published") and (m.get("log_position"), m.get("epoch")) == (
            entry.position,
            entry.epoch,
        ):
            return True
    return False
