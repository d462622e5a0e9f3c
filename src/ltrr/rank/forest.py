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
#: A tree's node arrays in LightGBM's model text, and their types.
_NODE_FIELDS: dict[str, type] = {
    "split_feature": np.int64,
    "threshold": np.float64,
    "decision_type": np.int64,
    "left_child": np.int64,
    "right_child": np.int64,
}


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
        """The flat form of ``booster``'s trees, or ``None`` if one has no flat form.

        Read from LightGBM's model text (``model_to_string``: each tree's node arrays on one
        line each), not from ``dump_model``'s JSON tree walked in Python, which cost about
        0.2 s per 300-tree model, paid at every retrain of a serving process.
        """
        return cls.from_model_text(booster.model_to_string())

    @classmethod
    def from_model_text(cls, text: str) -> Forest | None:
        """The flat form of a LightGBM model file's trees (``None``: a categorical split or a
        linear tree). Child ``c < 0`` in the file is leaf ``~c`` of its tree; node and leaf
        indices are offset by the nodes and leaves of the trees before it."""
        header, _, body = text.partition("\nTree=")
        n_features = next(
            int(line.split("=", 1)[1]) for line in header.splitlines()
            if line.startswith("max_feature_idx=")
        ) + 1  # fmt: skip
        blocks = ("Tree=" + body).split("\nTree=") if body else []
        parts: dict[str, list[NDArray[Any]]] = {k: [] for k in _NODE_FIELDS}
        leaves: list[NDArray[np.float64]] = []
        roots: list[int] = []
        n_nodes = n_leaves = 0
        for block in blocks:
            if block.startswith("end of trees") or "num_leaves=" not in block:
                break
            fields = dict(
                line.split("=", 1) for line in block.split("\n\n", 1)[0].splitlines()[1:]
                if "=" in line
            )  # fmt: skip
            if fields.get("is_linear", "0") != "0" or int(fields.get("num_cat", "0")) > 0:
                return None
            leaf = np.array(fields["leaf_value"].split(), np.float64)
            if int(fields["num_leaves"]) > 1:
                decision = np.array(fields["decision_type"].split(), np.int64)
                if (decision & 1).any():  # a categorical split
                    return None
                for name, kind in _NODE_FIELDS.items():
                    parts[name].append(np.array(fields[name].split(), kind))
                parts["decision_type"][-1] = decision
                for side in ("left_child", "right_child"):
                    c = parts[side][-1]
                    parts[side][-1] = np.where(c >= 0, c + n_nodes, c - n_leaves)
                roots.append(n_nodes)
                n_nodes += len(decision)
            else:
                roots.append(-1 - n_leaves)
            leaves.append(leaf)
            n_leaves += len(leaf)
        column = {
            k: np.concatenate(parts[k]) if parts[k] else np.zeros(0, kind)
            for k, kind in _NODE_FIELDS.items()
        }
        decision = column["decision_type"]
        threshold = column["threshold"].astype(np.float64)
        left = column["left_child"].astype(np.int32)
        right = column["right_child"].astype(np.int32)
        missing = (decision >> 2) & 3
        default = np.where((decision & 2) > 0, left, right)
        return cls(
            feature=column["split_feature"].astype(np.int32),
            threshold=threshold,
            left=left,
            right=right,
            missing_child=np.where(missing == 0, np.where(threshold >= 0.0, left, right), default),
            zero_default=missing == _MISSING["Zero"],
            leaf_value=np.concatenate(leaves) if leaves else np.zeros(0),
            root=np.array(roots, np.int32),
            n_features=n_features,
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
