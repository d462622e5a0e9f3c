"""A trained LightGBM ensemble as flat arrays, scored by a compiled loop (numba).

Why: a search scores about a hundred candidates with a few hundred trees. LightGBM's predict
costs about 0.8 ms for that here, most of it per-call and per-row set-up around a traversal
that takes a fraction of it; the same traversal compiled over flat arrays is several times
faster. The model file stays LightGBM's own (trained, saved, versioned and rolled back as
before); this is only its serving form, checked against ``Booster.predict`` to the last bit.

Semantics are LightGBM's numerical decision (``Tree::NumericalDecision``): a NaN becomes 0
unless the split's missing type is NaN; a missing value (NaN for type NaN, |x| <= 1e-35 for
type Zero) goes to the default side; else ``x <= threshold`` goes left. Scores are summed
tree by tree in double, as LightGBM does. A model with a categorical split, or a linear tree,
has no flat form (``from_booster`` returns ``None``), and the booster serves it. Trees are
walked tree by tree over all rows (a tree's nodes stay in cache), each row still summing the
trees in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

_ZERO = 1e-35
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}  # LightGBM's missing types


@dataclass(frozen=True, slots=True)
class Forest:
    """Nodes of every tree, concatenated: ``feature``, ``threshold``, ``left``/``right`` (a
    node index, or ``-1 - leaf``), ``missing_child`` (where a NaN goes: the default side for
    missing type NaN or Zero, else the side of 0), ``zero_default`` (missing type Zero: values
    with |x| <= 1e-35 take the default side too); ``leaf_value`` over all leaves; ``root`` per
    tree (``-1 - leaf`` for a one-leaf tree)."""

    feature: NDArray[np.int32]
    threshold: NDArray[np.float64]
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    missing_child: NDArray[np.int32]
    zero_default: NDArray[np.bool_]
    leaf_value: NDArray[np.float64]
    root: NDArray[np.int32]
    n_features: int

    @classmethod
    def from_booster(cls, booster: Any) -> Forest | None:
        """The flat form of ``booster``'s trees, or ``None`` if one has no flat form."""
        dump = booster.dump_model()
        nodes: list[tuple[int, float, int, bool, int, int]] = []
        leaves: list[float] = []
        roots: list[int] = []

        def walk(node: dict[str, Any]) -> int:
            if "leaf_index" in node or "split_index" not in node:
                leaves.append(float(node.get("leaf_value", 0.0)))
                return -len(leaves)  # -1 - (index of the leaf just added)
            if node.get("decision_type") != "<=":
                raise _NoFlatFormError
            at = len(nodes)
            nodes.append((0, 0.0, 0, False, 0, 0))
            left, right = walk(node["left_child"]), walk(node["right_child"])
            nodes[at] = (
                int(node["split_feature"]),
                float(node["threshold"]),
                _MISSING[str(node.get("missing_type", "None"))],
                bool(node.get("default_left", False)),
                left,
                right,
            )
            return at

        try:
            for tree in dump["tree_info"]:
                if tree.get("is_linear"):
                    return None
                roots.append(walk(tree["tree_structure"]))
        except _NoFlatFormError:
            return None
        columns: list[tuple[Any, ...]] = list(zip(*nodes, strict=True)) if nodes else [()] * 6
        threshold = np.array(columns[1], np.float64)
        missing = np.array(columns[2], np.int8)
        default_left = np.array(columns[3], np.bool_)
        left, right = np.array(columns[4], np.int32), np.array(columns[5], np.int32)
        default = np.where(default_left, left, right)
        return cls(
            feature=np.array(columns[0], np.int32),
            threshold=threshold,
            left=left,
            right=right,
            missing_child=np.where(missing == 0, np.where(threshold >= 0.0, left, right), default),
            zero_default=missing == 1,
            leaf_value=np.array(leaves, np.float64),
            root=np.array(roots, np.int32),
            n_features=int(dump["max_feature_idx"]) + 1,
        )

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        """Raw scores of the rows of ``x`` (n, n_features)."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) features, got {x.shape}")
        out: NDArray[np.float64] = _predict(
            np.ascontiguousarray(x, dtype=np.float64), self.feature, self.threshold, self.left,
            self.right, self.missing_child, self.zero_default, self.leaf_value, self.root,
        )  # fmt: skip
        return out


class _NoFlatFormError(Exception):
    """A split that is not numerical (categorical)."""


@numba.njit(cache=True, nogil=True)
def _predict(
    x: Any, feature: Any, threshold: Any, left: Any, right: Any, missing_child: Any,
    zero_default: Any, leaf_value: Any, root: Any,
) -> Any:  # fmt: skip
    """Tree by tree over all rows (a tree's nodes stay in cache); each row's sum still runs
    over the trees in order, so the scores are LightGBM's to the bit."""
    out = np.zeros(x.shape[0])
    for t in range(root.shape[0]):
        for i in range(x.shape[0]):
            node = root[t]
            while node >= 0:
                v = x[i, feature[node]]
                if zero_default[node] and not abs(v) > _ZERO:  # zero or NaN: the default
                    node = missing_child[node]
                elif v <= threshold[node]:
                    node = left[node]
                elif v > threshold[node]:
                    node = right[node]
                else:  # NaN
                    node = missing_child[node]
            out[i] += leaf_value[-1 - node]
    return out
