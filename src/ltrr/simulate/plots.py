"""Learning curves: the data kept in the report, and the PNGs drawn from it (matplotlib, Agg).

``curves`` turns per-search arrays into trailing moving means (``curve_window`` searches,
fewer at the start), averaged over seeds and sampled at about 200 points, so the JSON stays
small and the plots (and any dashboard) are drawn from the report alone. ``write_plots``
draws found-rate and candidates per search over searches, one line per policy, with the
learned policies' frozen tail points (unseen pool) as markers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
_POINTS = 200


def moving_mean(values: Array, width: int) -> Array:
    """Trailing mean over ``width`` entries (fewer at the start)."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - width, 0)
    out: Array = (sums[idx] - sums[lo]) / (idx - lo)
    return out


def curves(
    series: Mapping[str, Sequence[tuple[Array, Array]]],
    tails: Mapping[str, Sequence[Sequence[tuple[int, float, float, float]]]],
    n_searches: int,
    width: int,
) -> dict[str, Any]:
    """Report curves from per-seed ``(found, candidates)`` arrays (N,) per policy and, for
    learned policies, per-seed tail points ``(at_search, found, candidates, ndcg)``."""
    step = max(1, n_searches // _POINTS)
    at = np.unique(np.append(np.arange(step - 1, n_searches, step), n_searches - 1))
    head = {}
    for name, arrays in series.items():
        found = np.mean([moving_mean(f, width) for f, _ in arrays], axis=0)
        cost = np.mean([moving_mean(c, width) for _, c in arrays], axis=0)
        head[name] = {
            "found_rate": np.round(found[at], 5).tolist(),
            "candidates_per_search": np.round(cost[at], 3).tolist(),
        }
    tail = {}
    for name, per_seed in tails.items():
        points = np.mean(np.array(per_seed, dtype=np.float64), axis=0)
        tail[name] = {
            "at_search": points[:, 0].astype(int).tolist(),
            "found_rate": np.round(points[:, 1], 5).tolist(),
            "candidates_per_search": np.round(points[:, 2], 3).tolist(),
            "ndcg@10": np.round(points[:, 3], 5).tolist(),
        }
    return {"window": width, "at_search": (at + 1).tolist(), "head": head, "tail": tail}


def plot_paths(out: Path) -> dict[str, Path]:
    """Where the PNGs of report ``out`` go: beside it, named after it."""
    stem = out.with_suffix("")
    return {
        "found_rate": stem.with_name(f"{stem.name}-found.png"),
        "candidates_per_search": stem.with_name(f"{stem.name}-candidates.png"),
    }


def write_plots(report: Mapping[str, Any], out: Path) -> list[Path]:
    """Draw the report's learning curves next to ``out``; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = report["curves"]
    written = []
    labels = {"found_rate": "found-rate", "candidates_per_search": "candidates per search"}
    for metric, path in plot_paths(out).items():
        fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
        for name, values in data["head"].items():
            style = ":" if name == "oracle" else "-"  # oracle finds exactly when union does
            (line,) = ax.plot(data["at_search"], values[metric], style, label=name, linewidth=1.4)
            tail = data["tail"].get(name)
            if tail is not None:
                ax.plot(
                    tail["at_search"], tail[metric], linestyle="--", marker="o",
                    color=line.get_color(), label=f"{name} (unseen pool, frozen)",
                )  # fmt: skip
        ax.set_xlabel("searches")
        ax.set_ylabel(f"{labels[metric]} (moving window of {data['window']})")
        if metric == "candidates_per_search":
            ax.set_yscale("log")
        ax.set_title(f"{labels[metric]}: {report.get('directory', '')}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
