"""``propensity``: examination probability by position, for inverse-propensity-weighted LTR.

A click on a result at rank ``k`` needs the user to have examined rank ``k`` and found the
result relevant. Learning from clicks as if they were relevance judgements favours whatever
the old ranker put on top; weighting each click by ``1 / theta_k`` removes that bias, given the
examination probabilities ``theta``. This module estimates them from the click log itself with
the position-based model (PBM) fitted by EM: Wang, Golbandi, Bendersky, Metzler & Najork,
"Position bias estimation for unbiased learning to rank in personal search", WSDM 2018, sec. 4.

Symbols (paper -> code; ``n`` rows, one per shown result):

- ``P(C=1 | q, d, k) = theta_k * gamma_{q,d}``: examination times relevance;
- ``theta_k`` -> ``theta[k - 1]``, shape (max_position,), ``P(E=1 | k)``;
- ``gamma_{q,d}`` -> ``gamma[j]``, shape (n_pairs,), ``P(R=1 | q, d)`` with ``j`` the dense
  index of the caller's ``query_doc`` id;
- ``c``, ``k``, ``(q, d)`` -> ``click``, ``position``, ``query_doc``, each shape (n,).

E-step: a clicked row was examined and relevant; an unclicked one was examined but not
relevant with probability ``theta (1 - gamma) / (1 - theta gamma)``, relevant but not examined
with ``(1 - theta) gamma / (1 - theta gamma)``. M-step: ``theta_k`` and ``gamma_{q,d}`` are the
means of those posteriors over the rows at ``k`` and of ``(q, d)``. The PBM fixes ``theta`` only
up to a factor (``theta c``, ``gamma / c`` fit alike), so the result is normalised to
``theta[0] = 1``: relative propensities are all IPW needs. Identification needs each pair shown
at several positions (randomised or swapped rankings, as intervention harvesting gives).

Positions past ``max_position`` are pooled into the last one. A position no row was shown at
gets the estimate of the position before it (carried forward), since deeper results are
examined no more than shallower ones; position 1 must hold a click, to normalise by.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import ClickLogError, ConfigError

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Keeps ``1 - theta gamma`` off zero; at theta = gamma = 1 both posteriors' numerators are 0.
_TINY = 1e-12
FORMAT_VERSION = 1
METHODS = ("em", "power")
_SCALARS = ("method", "n_rows", "n_iterations", "converged")


@dataclass(frozen=True, slots=True, eq=False)
class Propensities:
    """Relative examination probability per position (``theta[0] = 1``).

    ``eq=False``: ``theta`` is an array, so field-wise ``==`` would be ambiguous.

    Attributes
    ----------
    theta
        Shape (max_position,), read-only: ``theta[k - 1]`` for rank ``k``.
    method
        ``"em"`` (fitted on a log) or ``"power"`` (the ``(1 / k) ** eta`` fallback).
    n_rows, n_iterations, converged
        Rows the fit read, EM iterations run and whether the tolerance was met (0, 0, True for
        ``"power"``).
    """

    theta: FloatArray
    method: str
    n_rows: int
    n_iterations: int
    converged: bool

    def __post_init__(self) -> None:
        theta = np.array(self.theta, dtype=np.float64)
        if theta.ndim != 1 or theta.size == 0 or not np.all(np.isfinite(theta) & (theta >= 0)):
            raise ConfigError(f"theta must be a non-empty 1-D array of finite values >= 0: {theta}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        theta.setflags(write=False)
        object.__setattr__(self, "theta", theta)

    @property
    def max_position(self) -> int:
        return int(self.theta.size)

    @classmethod
    def power(cls, eta: float, max_position: int) -> Propensities:
        """``theta_k = (1 / k) ** eta``: the usual prior when the log is too small to fit.

        >>> Propensities.power(1.0, 4).theta.tolist()
        [1.0, 0.5, 0.3333333333333333, 0.25]
        """
        if not eta >= 0 or max_position < 1:
            raise ConfigError(f"need eta >= 0 and max_position >= 1, got {eta}, {max_position}")
        theta = (1.0 / np.arange(1, max_position + 1)) ** eta
        return cls(theta, "power", n_rows=0, n_iterations=0, converged=True)

    def weights(self, position: npt.ArrayLike, max_weight: float = 10.0) -> FloatArray:
        """Inverse propensities ``1 / theta_k`` of 1-based ``position`` (any shape).

        ``theta`` is clipped below at ``1 / max_weight`` so that a rarely examined position
        cannot give one click the weight of hundreds (the variance of IPW grows with the
        largest weight); positions past ``max_position`` take the last one's weight.
        """
        if not max_weight >= 1:
            raise ConfigError(f"max_weight must be >= 1, got {max_weight}")
        ranks = np.asarray(position)
        if not np.issubdtype(ranks.dtype, np.integer) or np.any(ranks < 1):
            raise ClickLogError(f"positions must be integers >= 1, got {ranks}")
        inverse = 1.0 / np.maximum(self.theta, 1.0 / max_weight)
        return np.asarray(inverse[np.minimum(ranks, self.max_position) - 1], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (plain lists and numbers); ``from_dict`` reads it back."""
        scalars = {name: getattr(self, name) for name in _SCALARS}
        return {"format_version": FORMAT_VERSION, "theta": self.theta.tolist(), **scalars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Propensities:
        if data.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"propensity format_version must be {FORMAT_VERSION}: {data!r}")
        return cls(np.asarray(data["theta"], dtype=np.float64), **{f: data[f] for f in _SCALARS})


def fit_pbm(
    query_doc: npt.ArrayLike,
    position: npt.ArrayLike,
    click: npt.ArrayLike,
    *,
    max_position: int = 10,
    max_iterations: int = 1000,
    tol: float = 1e-6,
) -> Propensities:
    """Fit the position-based model by EM (Wang et al. 2018, sec. 4).

    Parameters
    ----------
    query_doc, position, click
        Shape (n,): the (query, document) pair's id, the 1-based rank it was shown at, 0/1.
    max_position
        Length of ``theta``; deeper positions are pooled into the last.
    max_iterations, tol
        EM stops when no relative ``theta`` moves by more than ``tol`` between iterations.

    Raises
    ------
    ClickLogError
        Mismatched lengths, an empty log, positions < 1, clicks other than 0/1, or no click at
        position 1 (``theta`` could not be normalised).
    """
    if max_position < 1 or max_iterations < 1 or not tol > 0:
        raise ConfigError(
            f"need max_position, max_iterations >= 1 and tol > 0: {max_position}, "
            f"{max_iterations}, {tol}"
        )
    pair, slot, clicked = _validated(query_doc, position, click, max_position)
    if not np.any(clicked[slot == 0]):
        raise ClickLogError("no click at position 1: theta cannot be normalised to theta[0] = 1")
    seen = np.bincount(slot, minlength=max_position) > 0
    theta, n_iterations, converged = _em(pair, slot, clicked, seen, max_iterations, tol)
    theta = _carry_forward(theta, seen)
    return Propensities(theta / theta[0], "em", int(slot.size), n_iterations, converged)


def estimate_propensities(
    query_doc: npt.ArrayLike,
    position: npt.ArrayLike,
    click: npt.ArrayLike,
    *,
    min_clicks: int = 1000,
    eta: float = 1.0,
    max_position: int = 10,
) -> Propensities:
    """EM when the log has ``min_clicks`` clicks, one of them at position 1; else ``power(eta)``.

    With few clicks the per-pair ``gamma`` swallow the signal and EM's ``theta`` is noise; the
    result's ``method`` says which was used, and the choice is logged.
    """
    pair, slot, clicked = _validated(query_doc, position, click, max_position)
    n_clicks = int(clicked.sum())
    if n_clicks >= min_clicks and np.any(clicked[slot == 0]):
        return fit_pbm(pair, slot + 1, clicked, max_position=max_position)
    logger.info(
        "%d clicks (min_clicks %d): using (1/k)**%g propensities", n_clicks, min_clicks, eta
    )
    return Propensities.power(eta, max_position)


def _validated(
    query_doc: npt.ArrayLike, position: npt.ArrayLike, click: npt.ArrayLike, max_position: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Dense pair index (``np.unique``, so sparse ids cost no memory), 0-based slot, clicks."""
    arrays = [np.asarray(a) for a in (query_doc, position, click)]
    if any(a.ndim != 1 for a in arrays) or len({a.size for a in arrays}) != 1:
        raise ClickLogError(
            f"query_doc, position, click must be 1-D of one length: "
            f"shapes {[a.shape for a in arrays]}"
        )
    ids, ranks, clicks = arrays
    if ids.size == 0:
        raise ClickLogError("the click log is empty")
    if not (np.issubdtype(ids.dtype, np.integer) and np.issubdtype(ranks.dtype, np.integer)):
        raise ClickLogError(f"query_doc and position must be integers: {ids.dtype}, {ranks.dtype}")
    if np.any(ranks < 1):
        raise ClickLogError(f"positions must be >= 1 (1-based), got min {ranks.min()}")
    if not np.all((clicks == 0) | (clicks == 1)):
        raise ClickLogError(f"clicks must be 0 or 1, got {np.unique(clicks)[:5]}")
    pair = np.unique(ids, return_inverse=True)[1].astype(np.int64)
    slot = np.minimum(ranks, max_position).astype(np.int64) - 1
    return pair, slot, clicks.astype(np.float64)


def _em(
    pair: IntArray,
    slot: IntArray,
    click: FloatArray,
    seen: npt.NDArray[np.bool_],
    max_iterations: int,
    tol: float,
) -> tuple[FloatArray, int, bool]:
    """EM from ``theta = gamma = 0.5``; ``theta`` at unseen slots is never read or updated.

    Stops on the step of ``theta / theta[0]``, the part the PBM identifies. EM's steps shrink
    slowly: on 60k simulated rows, stopping at ``tol = 1e-6`` (~360 iterations) left theta
    2e-4 from where 3000 iterations end, against a sampling error near 1e-2.
    """
    n_at_slot = np.maximum(np.bincount(slot, minlength=seen.size), 1)
    n_of_pair = np.bincount(pair)
    theta, gamma = np.full(seen.size, 0.5), np.full(n_of_pair.size, 0.5)
    for iteration in range(1, max_iterations + 1):
        t, g = theta[slot], gamma[pair]
        denom = np.maximum(1.0 - t * g, _TINY)
        examined = click + (1.0 - click) * t * (1.0 - g) / denom
        relevant = click + (1.0 - click) * (1.0 - t) * g / denom
        new_theta = np.where(seen, np.bincount(slot, examined, seen.size) / n_at_slot, theta)
        gamma = np.bincount(pair, relevant, n_of_pair.size) / n_of_pair
        step = new_theta / max(new_theta[0], _TINY) - theta / max(theta[0], _TINY)
        theta = new_theta
        if np.max(np.abs(step[seen])) < tol:
            return theta, iteration, True
    return theta, max_iterations, False


def _carry_forward(theta: FloatArray, seen: npt.NDArray[np.bool_]) -> FloatArray:
    """Unseen slots take the nearest seen slot above them (slot 0 is always seen)."""
    return theta[np.maximum.accumulate(np.where(seen, np.arange(seen.size), 0))]
