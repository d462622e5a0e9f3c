"""Simulated users: cascade and position-based click models on the qrels (EVALUATION.md
section 3, "Users").

**Cascade** (``perfect``, ``navigational``, ``informational``). The user scans the shown list
top down. At each examined position ``j`` the item of relevance level ``R_j`` is clicked with
``P(click | R_j)``; after a click the user stops with ``P(stop | R_j)``, else goes on; after the
last position the user leaves. This is the dependent click model of Guo et al. (WSDM 2009) as
used for online learning to rank by Hofmann et al. (2013, "Reusing historical interaction data
for faster online learning to rank for IR") and Oosterhuis & de Rijke (2018, "Differentiable
unbiased online learning to rank", Table 1), with their parameters:

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

**Position-based** (``pbm-navigational``, ``pbm-informational``). The position-based model of
Craswell, Zoeter, Taylor & Ramsey (WSDM 2008, "An experimental comparison of click
position-bias models") with the examination probabilities of Joachims, Swaminathan & Schnabel
(WSDM 2017, "Unbiased learning-to-rank with biased feedback", their simulated users): the
result at rank
``r = j + 1`` is examined with ``P(E_r) = (1 / r)^eta`` whatever was clicked above it, and an
examined result is clicked with ``P(click | R)`` of the named table (navigational or
informational, binary or graded as above), so ``P(click at r) = (1 / r)^eta P(click | R_r)``.
Nobody stops: any number of results may be clicked. ``eta`` (paper: ``eta``, the severity of
the position bias; ``[simulate] eta``, default 1) must be > 0. This is the setting in which
correcting a learned ranker for position bias is known to matter.

The random draws are passed in (two uniform arrays in [0, 1) of the shown list's length), so
every policy of one seed meets the same users: common random numbers, which make differences
between policies far less noisy than independent draws would.
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
#: Position-based model name -> the table (above) whose ``P(click | level)`` it uses.
PBM: dict[str, str] = {
    "pbm-navigational": "navigational",
    "pbm-informational": "informational",
}
CLICK_MODELS: tuple[str, ...] = (*BINARY, *PBM)


@dataclass(frozen=True, slots=True)
class ClickModel:
    """One user model: click (and, for a cascade, stop) probabilities per relevance level.

    ``eta`` is None for a cascade model; for a position-based model it is the exponent of the
    examination probability ``(1 / r)^eta`` at rank ``r`` (and ``stop`` is all zeros).
    """

    name: str
    click: tuple[float, ...]
    stop: tuple[float, ...]
    max_grade: int = 1
    eta: float | None = None

    def level(self, grade: int) -> int:
        """The table level of a qrels grade (0 for unjudged or non-relevant)."""
        if grade <= 0:
            return 0
        if len(self.click) == 2:
            return 1
        top = max(self.max_grade, 2)
        return min(4, 1 + int(np.floor(3.0 * (min(grade, top) - 1) / (top - 1) + 0.5)))

    def clicks(
        self, levels: Sequence[int], u_click: Sequence[float], u_stop: Sequence[float]
    ) -> list[int]:
        """0-based positions clicked, in order, by one user shown ``levels``, whatever the model.

        ``u_click`` and ``u_stop`` are the user's two independent per-position uniform draws
        (at least ``len(levels)`` each; ``traffic.Traffic`` holds one pair per search). A cascade
        compares ``u_stop`` with ``P(stop | click, R)``. A position-based user never stops, so
        it uses ``u_stop`` as its examination draws instead: the traffic has only these two
        arrays per search, and reusing them (rather than drawing a third) keeps the common
        random numbers, every policy of a seed meeting the same users; examination and click
        stay independent because the two arrays are.
        """
        if self.eta is None:
            return self.cascade(levels, u_click, u_stop)
        return self.position_based(levels, u_click, u_stop)

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

    def position_based(
        self, levels: Sequence[int], u_click: Sequence[float], u_examine: Sequence[float]
    ) -> list[int]:
        """0-based positions clicked under the position-based model: position ``j`` is clicked
        when examined (``u_examine[j] < (1 / (j + 1))^eta``) and ``u_click[j] < P(click | R_j)``.
        """
        examine = self.examination(len(levels))
        return [
            j
            for j, level in enumerate(levels)
            if u_examine[j] < examine[j] and u_click[j] < self.click[level]
        ]

    def examination(self, n: int) -> NDArray[np.float64]:
        """``P(examine r) = (1 / r)^eta`` for ranks r = 1..n, shape (n,) (position-based only)."""
        if self.eta is None:
            raise TypeError(
                f"click model {self.name!r} is a cascade: examination depends on clicks"
            )
        out: NDArray[np.float64] = np.arange(1, n + 1, dtype=np.float64) ** -self.eta
        return out

    def click_probabilities(self, levels: Sequence[int]) -> NDArray[np.float64]:
        """Exact ``P(click at j)`` for each position: ``P(examine j) * P(click | R_j)``.

        Cascade: ``P(examine 1) = 1`` and ``P(examine j + 1) = P(examine j) (1 - c_j s_j)``.
        Position-based: ``P(examine j) = (1 / (j + 1))^eta``.
        """
        c = np.array([self.click[v] for v in levels], dtype=np.float64)
        if self.eta is not None:
            out: NDArray[np.float64] = self.examination(len(levels)) * c
            return out
        s = np.array([self.stop[v] for v in levels], dtype=np.float64)
        examine = np.concatenate([[1.0], np.cumprod(1.0 - c * s)[:-1]])
        out = examine * c
        return out


def click_model(name: str, max_grade: int = 1, eta: float = 1.0) -> ClickModel:
    """The model called ``name`` (one of ``CLICK_MODELS``) for judgements graded up to
    ``max_grade``; ``eta`` is the position-based models' examination exponent (cascades
    ignore it)."""
    if name not in CLICK_MODELS:
        raise ConfigError(f"unknown click model {name!r}; allowed: {', '.join(CLICK_MODELS)}")
    if not eta > 0:
        raise ConfigError(f"click model eta must be > 0, got {eta}")
    table = BINARY if max_grade <= 1 else GRADED
    grade = max(int(max_grade), 1)
    if name in PBM:
        click = table[PBM[name]][0]
        return ClickModel(name, click, (0.0,) * len(click), grade, float(eta))
    click, stop = table[name]
    return ClickModel(name, click, stop, grade)
