"""Simulated users: cascade click models on the qrels (EVALUATION.md section 3, "Users").

The user scans the shown list top down. At each examined position ``j`` the item of
relevance level ``R_j`` is clicked with ``P(click | R_j)``; after a click the user stops with
``P(stop | R_j)``, else goes on; after the last position the user leaves. This is the
dependent click model of Guo et al. (WSDM 2009) as used for online learning to rank by
Hofmann et al. (2013, "Reusing historical interaction data for faster online learning to rank
for IR") and Oosterhuis & de Rijke (2018, "Differentiable unbiased online learning to rank",
Table 1), with their parameters:

============== ====================== ======================
model          P(click | R)            P(stop | click, R)
============== ====================== ======================
perfect        0.0 1.0                 0.0 0.0
navigational   0.05 0.95               0.2 0.9
informational  0.4 0.9                 0.1 0.5
============== ====================== ======================

and for graded judgements their five-grade tables (levels 0..4). A benchmark whose largest
grade is 1 uses the binary table; otherwise grade ``g >= 1`` maps to level
``1 + round(3 (g - 1) / (G - 1))`` of the five-grade table (``G`` the largest grade), so every
relevant item (``g >= 1``) gets a relevant level and the top grade gets level 4.

The random draws are passed in (``u_click``, ``u_stop`` uniform in [0, 1)), so every policy
of one seed meets the same users: common random numbers, which make differences between
policies far less noisy than independent draws would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.errors import ConfigError

#: model name -> (P(click | level), P(stop | click, level)) for binary judgements.
BINARY: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "perfect": ((0.0, 1.0), (0.0, 0.0)),
    "navigational": ((0.05, 0.95), (0.2, 0.9)),
    "informational": ((0.4, 0.9), (0.1, 0.5)),
}
#: The same models for five relevance grades (Oosterhuis & de Rijke 2018, Table 1).
GRADED: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "perfect": ((0.0, 0.2, 0.4, 0.8, 1.0), (0.0, 0.0, 0.0, 0.0, 0.0)),
    "navigational": ((0.05, 0.3, 0.5, 0.7, 0.95), (0.2, 0.3, 0.5, 0.7, 0.9)),
    "informational": ((0.4, 0.6, 0.7, 0.8, 0.9), (0.1, 0.2, 0.3, 0.4, 0.5)),
}
CLICK_MODELS: tuple[str, ...] = tuple(BINARY)


@dataclass(frozen=True, slots=True)
class ClickModel:
    """One cascade user model: click and stop probabilities per relevance level."""

    name: str
    click: tuple[float, ...]
    stop: tuple[float, ...]
    max_grade: int = 1

    def level(self, grade: int) -> int:
        """The table level of a qrels grade (0 for unjudged or non-relevant)."""
        if grade <= 0:
            return 0
        if len(self.click) == 2:
            return 1
        top = max(self.max_grade, 2)
        return min(4, 1 + int(np.floor(3.0 * (min(grade, top) - 1) / (top - 1) + 0.5)))

    def cascade(
        self, levels: Sequence[int], u_click: Sequence[float], u_stop: Sequence[float]
    ) -> list[int]:
        """0-based positions clicked, in order, for one user scanning ``levels`` top down."""
        clicked = []
        for j, level in enumerate(levels):
            if u_click[j] < self.click[level]:
                clicked.append(j)
                if u_stop[j] < self.stop[level]:
                    break
        return clicked

    def click_probabilities(self, levels: Sequence[int]) -> NDArray[np.float64]:
        """Exact ``P(click at j)`` for each position: ``P(examine j) * P(click | R_j)``.

        ``P(examine 1) = 1`` and ``P(examine j + 1) = P(examine j) (1 - c_j s_j)``.
        """
        c = np.array([self.click[v] for v in levels], dtype=np.float64)
        s = np.array([self.stop[v] for v in levels], dtype=np.float64)
        examine = np.concatenate([[1.0], np.cumprod(1.0 - c * s)[:-1]])
        out: NDArray[np.float64] = examine * c
        return out


def click_model(name: str, max_grade: int = 1) -> ClickModel:
    """The model called ``name`` for judgements graded up to ``max_grade``."""
    if name not in BINARY:
        raise ConfigError(f"unknown click model {name!r}; allowed: {', '.join(CLICK_MODELS)}")
    click, stop = (BINARY if max_grade <= 1 else GRADED)[name]
    return ClickModel(name, click, stop, max(int(max_grade), 1))
