"""Arena pictures: ratings as bars with interval whiskers, and the annotated win-rate heatmap. Drawn on
matplotlib's Agg canvas (``Figure``), no pyplot state; each function writes a PNG and returns its path.

>>> import tempfile, os
>>> with tempfile.TemporaryDirectory() as d:
...     p = plot_ratings(["a", "b"], [1050.0, 950.0], [1020.0, 930.0], [1080.0, 970.0], os.path.join(d, "r.png"))
...     q = plot_win_rates(np.array([[0.5, 0.7], [0.3, 0.5]]), ["a", "b"], os.path.join(d, "w.png"))
...     os.path.getsize(p) > 1000, os.path.getsize(q) > 1000
(True, True)
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_ratings", "plot_win_rates"]


def _save(fig: Figure, path) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_ratings(models: Sequence[str], rating, lower, upper, path, title: str = "Ratings") -> str:
    """Horizontal bars of the ratings (best on top) with [lower, upper] whiskers, a line at 1000."""
    rating, lower, upper = (np.asarray(x, dtype=float) for x in (rating, lower, upper))
    order = np.argsort(rating)
    n = len(models)
    fig = Figure(figsize=(7, 0.45 * n + 1.4))
    ax = fig.add_subplot()
    base = min(float(lower.min()), 1000.0) - 20
    ax.barh(np.arange(n), rating[order] - base, left=base, color="#4c78a8", alpha=0.8)
    ax.errorbar(rating[order], np.arange(n), xerr=[rating[order] - lower[order], upper[order] - rating[order]],
                fmt="o", color="black", capsize=4, markersize=3)
    for y, i in enumerate(order):
        ax.text(upper[i] + 3, y, f"{rating[i]:.0f}", va="center", fontsize=8)
    ax.axvline(1000.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(np.arange(n), [models[i] for i in order])
    ax.set_xlabel("rating (P(a beats b) = 1/(1+10^((R_b-R_a)/400)); mean 1000)")
    ax.set_title(title)
    return _save(fig, path)


def plot_win_rates(W: np.ndarray, models: Sequence[str], path, title: str = "Win rate of row over column") -> str:
    """Heatmap of the win-rate matrix with each cell's value (blank where a pair never met)."""
    W = np.asarray(W, dtype=float)
    n = len(models)
    fig = Figure(figsize=(0.6 * n + 2.5, 0.55 * n + 1.8))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(W), cmap="RdBu", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if i != j and np.isfinite(W[i, j]):
                ax.text(j, i, f"{W[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(W[i, j] - 0.5) > 0.3 else "black")
    ax.set_xticks(np.arange(n), models, rotation=45, ha="right")
    ax.set_yticks(np.arange(n), models)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)
