"""The shown pages of recently folded impressions, for checking the actions that answer them.

Every action is checked against its request's shown page (an action on a shown result needs no
catalog look-up; one on an unknown request is refused). A service worker folds every committed
impression of every worker within a fraction of a second (``learn.follow``), and users act
seconds later, so the page an action needs was usually decoded by this process moments before:
the log keeps the pages of the impression heads it handed to the follower, and reads the
database only for the rest. A stored impression's page never changes (the first write wins),
so a remembered page is the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ltrr.log.events import Action, ImpressionHead

#: Pages kept (about 1 KB each with their ids): the newest, by fold order.
RECENT_PAGES = 50_000


class RecentPages:
    """Request id -> shown page of the last ``size`` impression heads seen.

    One thread (the follower's) writes; request threads read with ``get_many``, which never
    iterates the map, so no lock is needed under the GIL.
    """

    def __init__(self, size: int = RECENT_PAGES) -> None:
        self.size = size
        self._pages: dict[str, tuple[str, ...]] = {}

    def remember(self, events: Iterable[tuple[int, ImpressionHead | Action]]) -> None:
        pages = self._pages
        for _, event in events:
            if isinstance(event, ImpressionHead):
                pages[event.request_id] = event.shown
        if len(pages) > self.size:  # drop the oldest tenth at once: rare, and cheap per event
            for old in list(pages)[: len(pages) - self.size + self.size // 10]:
                pages.pop(old, None)

    def get_many(self, request_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The remembered pages of ``request_ids`` (unknown ones left out)."""
        get = self._pages.get
        found = ((r, get(r)) for r in request_ids)
        return {r: page for r, page in found if page is not None}
