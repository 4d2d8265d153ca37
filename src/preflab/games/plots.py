"""Pictures of game dynamics: duality gap against iteration, paths on the simplex, win-rate matrices.

Each function takes the :class:`~preflab.games.trajectory.Trajectory` objects of one game (plus its
preference matrix P where the picture needs it) and a path, writes a PNG there and returns the path.
Figures are drawn on matplotlib's Agg canvas directly (``matplotlib.figure.Figure``): no display, no
pyplot state, safe in threads and on headless machines.

>>> import tempfile, os
>>> from preflab.games import Trajectory, cyclic
>>> P = cyclic(3)
>>> iterates = [[0.6, 0.3, 0.1], [0.4, 0.35, 0.25], [1 / 3, 1 / 3, 1 / 3]]
>>> t = Trajectory.record("demo", P, 0.0, [1 / 3] * 3, iterates)
>>> with tempfile.TemporaryDirectory() as d:
...     paths = [plot_gaps([t], os.path.join(d, "gap.png")), plot_simplex([t], P, os.path.join(d, "simplex.png")),
...              plot_win_rates([t], P, os.path.join(d, "winrates.png"))]
...     [os.path.getsize(p) > 0 for p in paths]
[True, True, True]
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .equilibria import nash
from .preferences import check_policy, check_preference
from .trajectory import Trajectory

__all__ = ["plot_gaps", "plot_simplex", "plot_win_rates", "win_rate_matrix", "GAP_FLOOR"]

GAP_FLOOR = 1e-16            # a log axis has no 0: smaller gaps (exact equilibria) are drawn at this height
_SQRT3_2 = np.sqrt(3.0) / 2.0


def _label(t: Trajectory) -> str:
    return f"{t.algorithm} (sampled)" if t.sampled else t.algorithm


def _colors(k: int) -> list:
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def _check(trajectories: Sequence[Trajectory], n: Optional[int] = None) -> list[Trajectory]:
    trajectories = list(trajectories)
    if not trajectories:
        raise ValueError("nothing to plot: give at least one Trajectory")
    sizes = {t.policies.shape[1] for t in trajectories}
    if len(sizes) > 1 or (n is not None and sizes != {n}):
        want = f"the game's N = {n}" if n is not None else "one N"
        raise ValueError(f"trajectories have {sorted(sizes)} responses, expected {want}: plot one game at a time")
    return trajectories


def _save(fig: Figure, path) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_gaps(trajectories: Sequence[Trajectory], path, title: Optional[str] = None) -> str:
    """Duality gap against iteration on a log scale: one colour per algorithm, the last iterate solid and
    the running average dashed. Gaps below ``GAP_FLOOR`` (1e-16) are drawn at it; infinite gaps (a policy
    outside the reference's support) are left out."""
    trajectories = _check(trajectories)
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for t, color in zip(trajectories, _colors(len(trajectories))):
        for gaps, style in ((t.gaps, "-"), (t.avg_gaps, "--")):
            g = np.where(np.isfinite(gaps), np.maximum(gaps, GAP_FLOOR), np.nan)
            ax.plot(t.iterations, g, style, color=color, lw=1.6, label=_label(t) if style == "-" else None)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("duality gap")
    betas = sorted({t.beta for t in trajectories})
    ax.set_title(title or f"duality gap, beta = {', '.join(f'{b:g}' for b in betas)}")
    ax.grid(True, which="major", alpha=0.3)
    styles = [Line2D([], [], color="0.3", ls="-", label="last iterate"),
              Line2D([], [], color="0.3", ls="--", label="average")]
    handles = ax.get_legend_handles_labels()[0] + styles
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _save(fig, path)


def _to_xy(points) -> np.ndarray:
    """Barycentric coordinates [..., 3] to the plane: responses 0, 1, 2 at (0, 0), (1, 0), (1/2, sqrt(3)/2)."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 1] + 0.5 * p[..., 2], _SQRT3_2 * p[..., 2]], axis=-1)


def plot_simplex(trajectories: Sequence[Trajectory], P, path, equilibrium=None, averaged: bool = True,
                 title: Optional[str] = None) -> str:
    """The policies' paths on the 2-simplex of a 3-response game: each algorithm's iterates as a solid
    line (start a circle, end a dot), its running average dashed (``averaged=True``), the reference a
    square and the equilibrium a star. ``equilibrium`` defaults to ``nash(P, beta, ref)`` of the first
    trajectory's game. A game with N != 3 is a ValueError."""
    P = check_preference(P)
    if P.shape[0] != 3:
        raise ValueError(f"the simplex plot draws 3-response games; this one has N = {P.shape[0]}")
    trajectories = _check(trajectories, 3)
    first = trajectories[0]
    eq = nash(P, first.beta, first.ref) if equilibrium is None else check_policy(equilibrium, 3, "equilibrium")

    fig = Figure(figsize=(6.0, 5.6))
    ax = fig.add_subplot()
    corners = _to_xy(np.eye(3))
    ax.fill(corners[:, 0], corners[:, 1], color="0.97", ec="0.3", lw=1.0)
    e = np.eye(3)
    for frac in (0.25, 0.5, 0.75):                 # grid: the lines where response k has probability frac
        for k in range(3):
            seg = _to_xy([frac * e[k] + (1 - frac) * e[(k + 1) % 3], frac * e[k] + (1 - frac) * e[(k + 2) % 3]])
            ax.plot(seg[:, 0], seg[:, 1], color="0.88", lw=0.6, zorder=0)
    for k, (x, y) in enumerate(corners):
        ax.annotate(f"response {k}", (x, y), xytext=(0, -14 if y == 0 else 8), textcoords="offset points",
                    ha="center", fontsize=9)

    for t, color in zip(trajectories, _colors(len(trajectories))):
        xy = _to_xy(t.policies)
        ax.plot(xy[:, 0], xy[:, 1], "-", color=color, lw=1.4, label=_label(t))
        ax.plot(*xy[0], "o", mfc="none", mec=color, ms=7)
        ax.plot(*xy[-1], "o", color=color, ms=5)
        if averaged:
            axy = _to_xy(t.averaged)
            ax.plot(axy[:, 0], axy[:, 1], "--", color=color, lw=1.0, alpha=0.8)
    ref_xy, eq_xy = _to_xy(first.ref), _to_xy(eq)
    ax.plot(*ref_xy, "s", mfc="none", mec="0.2", ms=8, label="reference")
    ax.plot(*eq_xy, "*", color="gold", mec="k", ms=16, zorder=5, label=f"equilibrium (beta = {first.beta:g})")
    ax.set_aspect("equal")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.1, _SQRT3_2 + 0.1)
    ax.axis("off")
    ax.set_title(title or "policies on the simplex (dashed: running average)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _save(fig, path)


def win_rate_matrix(P, policies: Sequence) -> np.ndarray:
    """W[i, j] = policies[i]^T P policies[j]: how often policy i's response beats policy j's."""
    P = check_preference(P)
    Pi = np.stack([check_policy(p, P.shape[0], f"policies[{k}]") for k, p in enumerate(policies)])
    return Pi @ P @ Pi.T


def plot_win_rates(trajectories: Sequence[Trajectory], P, path, equilibrium=None,
                   title: Optional[str] = None) -> str:
    """Heatmap of the win rates among the algorithms' final policies, the reference and the equilibrium
    (``nash(P, beta, ref)`` of the first trajectory's game unless given): cell (i, j) is the probability
    that row i's response beats column j's, annotated, blue above 1/2 and red below."""
    P = check_preference(P)
    trajectories = _check(trajectories, P.shape[0])
    first = trajectories[0]
    eq = nash(P, first.beta, first.ref) if equilibrium is None else check_policy(equilibrium, P.shape[0], "equilibrium")
    names = [_label(t) for t in trajectories] + ["reference", "equilibrium"]
    W = win_rate_matrix(P, [t.last for t in trajectories] + [first.ref, eq])

    k = len(names)
    fig = Figure(figsize=(1.2 + 0.62 * k, 0.9 + 0.55 * k))
    ax = fig.add_subplot()
    image = ax.imshow(W, cmap="RdBu", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{W[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(W[i, j] - 0.5) > 0.3 else "black")
    ax.set_xlabel("against")
    ax.set_title(title or f"win rate of row against column (beta = {first.beta:g})")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)
