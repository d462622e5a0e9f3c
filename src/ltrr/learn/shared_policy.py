"""The policy's statistics folded by one replica and published to the others.

Every replica folds the shared log (``learn.follow``), and the policy's update is the largest
part of that fold (about 45% of its CPU in ``benchmarks/shared_state.py``'s profile: the plan
features rebuilt for each lesson and the Laplace update of the posterior), so N replicas pay it
N times for the same result. With shared state, one replica at a time holds the ``policy``
lease: it teaches the policy as before and publishes it every ``publish_s``, at the log
position it reflects. The others fold everything else (memory, exposure, the ranker, the
counters), skip the policy's update, and install each newer published policy, so every
replica plans from the same posterior, at most ``publish_s`` plus a poll behind its writer.

What this gives up: the policy is no longer a fold of the log in every replica, only in the
one that publishes it. When it stops (or its lease expires after ``LEASE_S``), another replica
takes over from the last published policy; the lessons that settled between that publication
and the takeover are not taught (at most ``publish_s + LEASE_S`` of them; memory, the ranker and
the log itself lose nothing, and a replay teaches them again).
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

from ltrr.config import Config
from ltrr.errors import LtrrError
from ltrr.learn.follow import LogFollower
from ltrr.learn.snapshot import fingerprint, log_epoch
from ltrr.select import load_policy
from ltrr.storage.shared import Lease, Published, SharedState, pack_folder, unpack_folder

logger = logging.getLogger(__name__)
#: How long other replicas wait for a publisher that died before one takes over.
LEASE_S = 10.0


class SharedPolicy:
    """Publishes the policy (holding the lease) or installs the published one (not holding
    it); ``tick`` is called after each round of following the log."""

    def __init__(
        self,
        shared: SharedState,
        follower: LogFollower,
        config: Config,
        lock: AbstractContextManager[object],
        publish_s: float,
    ) -> None:
        self.shared, self.follower, self.config, self.lock = shared, follower, config, lock
        self.publish_s = publish_s
        self.name = f"policy:{fingerprint(config)}"
        self.lease: Lease | None = None
        self._epoch = ""
        self._installed = -1  # the position of the policy installed or published last
        self._last = -float("inf")

    @property
    def publishing(self) -> bool:
        return self.lease is not None

    def tick(self) -> None:
        """Take or keep the lease; publish or install at most once per ``publish_s``."""
        now = time.monotonic()
        if now - self._last < self.publish_s:
            return
        self._last = now
        try:
            if self.lease is not None and not self.lease.held():
                logger.warning("policy lease lost: installing the published policy from now on")
                self.lease = None
            if self.lease is None:
                self.lease = self.shared.lease("policy", LEASE_S)
            self.follower.learner.lessons.teach_policy = self.lease is not None
            if self.lease is not None:
                self._publish()
            else:
                self._install()
        except LtrrError as exc:  # Redis away: keep serving, fold the policy here meanwhile
            logger.warning("shared policy: %s", exc)
            self.follower.learner.lessons.teach_policy = True

    def epoch(self) -> str:
        if not self._epoch:
            self._epoch = log_epoch(self.follower.log)
        return self._epoch

    def _publish(self) -> None:
        position = self.follower.position
        if position <= self._installed:
            return
        with tempfile.TemporaryDirectory() as tmp:
            with self.lock:  # no lesson changes the policy while it is written
                position = self.follower.position
                self.follower.learner.policy.save(Path(tmp) / "policy")
                n_taught = self.follower.learner.lessons.n_taught
            blob = pack_folder(Path(tmp) / "policy")
        meta = {"n_taught": n_taught, "bytes": len(blob)}
        self.shared.publish(self.name, Published(position, meta, blob, self.epoch()))
        self._installed = position

    def _install(self) -> None:
        head = self.shared.published(self.name)
        if head is None or head.epoch != self.epoch() or head.position <= self._installed:
            return
        entry = self.shared.fetch(self.name)
        if entry is None or entry.blob is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            unpack_folder(entry.blob, Path(tmp) / "policy")
            policy = load_policy(Path(tmp) / "policy", self.config)
        with self.lock:
            self.follower.learner.swap_policy(policy)
        self._installed = entry.position

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None
