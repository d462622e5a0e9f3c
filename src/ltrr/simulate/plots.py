"""Learning curves: the data kept in the report, and the PNGs drawn from it (matplotlib, Agg).

``curves`` turns per-search arrays into trailing moving means (``curve_window`` searches,
fewer at the start), averaged over seeds and sampled at about 200 points, so the JSON stays
small and the plots (and any dashboard) are drawn from the report alone. ``write_plots``
draws found-rate and candidates per search over searches, one line per policy, with the
learned policies' frozen tail points (unseen pool) as markers; and, from the report's
``cost_vs_found`` and ``pareto_frontier``, the unseen pool's cost (candidates per search, log
scale) against found-rate: every fixed plan as a grey dot, their upper-left frontier as a
step line, the oracle, and each learned policy's last tail point per seed with their mean.
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
        "cost_vs_found": stem.with_name(f"{stem.name}-cost-found.png"),
    }


def write_plots(report: Mapping[str, Any], out: Path) -> list[Path]:
    """Draw the report's learning curves and its cost-vs-found plot (when the report has its
    points) next to ``out``; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = report["curves"]
    written = []
    labels = {"found_rate": "found-rate", "candidates_per_search": "candidates per search"}
    paths = plot_paths(out)
    if "cost_vs_found" in report:
        written.append(_cost_vs_found(plt, report, paths.pop("cost_vs_found")))
    else:
        paths.pop("cost_vs_found")
    for metric, path in paths.items():
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


def _cost_vs_found(plt: Any, report: Mapping[str, Any], path: Path) -> Path:
    """Unseen pool: fixed plans, their frontier, the oracle and the learned points."""
    points = report["cost_vs_found"]
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    fixed = points["fixed"]
    ax.scatter(
        fixed["candidates_per_search"], fixed["found_rate"], s=6, color="0.7",
        label="fixed plans", zorder=1,
    )  # fmt: skip
    front = report["pareto_frontier"]
    learned_cost = [c for p in points["learned"].values() for c in p["candidates_per_search"]]
    right = max([*fixed["candidates_per_search"], *learned_cost], default=0.0)
    cost = [p["candidates_per_search"] for p in front]
    found = [p["found_rate"] for p in front]
    ax.plot(
        [*cost, max(right, *cost[-1:])], [*found, *found[-1:]],  # flat after the last plan
        drawstyle="steps-post", color="0.3", linewidth=1.2, label="fixed-plan frontier", zorder=2,
    )  # fmt: skip
    oracle = points["oracle"]
    ax.scatter(
        [oracle["candidates_per_search"]], [oracle["found_rate"]], marker="*", s=120,
        color="black", label="oracle (per query, hindsight)", zorder=3,
    )  # fmt: skip
    for name in ("hybrid", "union"):
        tail = report["policies"].get(name, {}).get("tail")
        if tail is not None:
            x, y = tail["candidates_per_search"]["mean"], tail["found_rate"]["mean"]
            ax.scatter([x], [y], marker="x", s=30, color="0.2", zorder=3)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    for name, learned in points["learned"].items():
        cost, found = learned["candidates_per_search"], learned["found_rate"]
        (mean,) = ax.plot(
            [float(np.mean(cost))], [float(np.mean(found))], marker="o", markersize=9,
            linestyle="none", label=f"{name} (mean of {len(cost)} seeds)", zorder=5,
        )  # fmt: skip
        ax.scatter(
            cost, found, s=30, facecolors="none", edgecolors=mean.get_color(),
            label=f"{name} (each seed)", zorder=4,
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("candidates per search (unseen pool)")
    ax.set_ylabel("found-rate (unseen pool)")
    ax.set_title(f"cost against found-rate, unseen queries: {report.get('directory', '')}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
