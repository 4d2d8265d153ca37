"""The arena report: ratings with intervals, the win-rate matrix, the Nash view, and (given a baseline)
length-controlled win rates, written as ``ratings.json``, ``ratings.png``, ``winrate.png`` and a
self-contained ``report.html`` beside them.

>>> import tempfile, os, json
>>> battles = [{"model_a": a, "model_b": b, "winner": w} for a, b, w in
...            [("x", "y", "model_a"), ("y", "x", "tie"), ("y", "z", "model_a"), ("z", "x", "model_a"), ("x", "z", "tie")]]
>>> with tempfile.TemporaryDirectory() as d:
...     summary = write_report(battles, d, interval="none", prior=1.0)
...     sorted(os.listdir(d)), json.load(open(os.path.join(d, "ratings.json")))["method"]
(['ratings.json', 'ratings.png', 'report.html', 'winrate.png'], 'bt')
"""

from __future__ import annotations

import html
import json
import os
from typing import Optional

import numpy as np

from .length_control import length_controlled_win_rate
from .nontransitive import nash_view
from .plots import plot_ratings, plot_win_rates
from .ratings import rate
from .winrate import win_rate_matrix

__all__ = ["arena_summary", "lc_caption", "write_report"]


def arena_summary(battles, method: str = "bt", interval: str = "sandwich", level: float = 0.95, rounds: int = 200,
                  seed: int = 0, prior: float = 0.0, baseline: Optional[str] = None, lc_difficulty=None):
    """``(Ratings, summary dict)``: the ratings' JSON plus ``models`` (in matrix order), ``win_rate`` (rows
    beat columns; null where a pair never met), ``nash`` (maximal-lottery mass and duality gap per model) and,
    with ``baseline``, ``length_controlled``: AlpacaEval 2's LC win rates
    (:func:`~preflab.arena.length_control.length_controlled_win_rate`; ``lc_difficulty`` its ``difficulty``,
    None: estimated from the battles)."""
    battles = list(battles)
    r = rate(battles, method=method, interval=interval, level=level, rounds=rounds, seed=seed, prior=prior)
    W = win_rate_matrix(r.counts)
    out = r.as_json()
    out["models"] = r.models
    out["win_rate"] = [[None if np.isnan(v) else float(v) for v in row] for row in W]
    out["nash"] = nash_view(W, r.models)
    if baseline is not None:
        out["length_controlled"] = length_controlled_win_rate(battles, baseline, difficulty=lc_difficulty)
    return r, out


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def lc_caption(lc: dict) -> str:
    """One sentence on how the LC win rates were computed and whether they compare with AlpacaEval's."""
    given = all(v["difficulty_source"] == "given" for v in lc.values())
    return ("AlpacaEval 2's length-controlled GLM (lengths in characters, L1 logistic regression with 5-fold CV), "
            "without its gamed-baseline rows (length_controlled_noreg); instruction difficulty "
            + ("given." if given else "estimated from these battles (each model's from the other models'), not "
               "AlpacaEval's: not comparable with published LC win rates."))


def _table(summary: dict) -> str:
    nash = summary["nash"]
    rows = "".join(
        f"<tr><td>{v['rank']}</td><td>{html.escape(m)}</td><td>{v['rating']:.1f}</td>"
        f"<td>[{v['lower']:.1f}, {v['upper']:.1f}]</td><td>{v['battles']}</td>"
        f"<td>{nash[m]['nash_mass']:.3f}</td><td>{nash[m]['duality_gap']:.3f}</td></tr>"
        for m, v in summary["ratings"].items())
    return ("<table><tr><th>rank</th><th>model</th><th>rating</th><th>interval</th><th>battles</th>"
            "<th>Nash mass</th><th>duality gap</th></tr>" + rows + "</table>")


def write_report(battles, out_dir, method: str = "bt", interval: str = "sandwich", level: float = 0.95,
                 rounds: int = 200, seed: int = 0, prior: float = 0.0, baseline: Optional[str] = None,
                 title: str = "preflab arena", lc_difficulty=None) -> dict:
    """Write ratings.json, ratings.png, winrate.png and report.html to ``out_dir``; return the summary."""
    os.makedirs(out_dir, exist_ok=True)
    r, summary = arena_summary(battles, method, interval, level, rounds, seed, prior, baseline, lc_difficulty)
    with open(os.path.join(out_dir, "ratings.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    plot_ratings(r.models, r.rating, r.lower, r.upper, os.path.join(out_dir, "ratings.png"),
                 title=f"{method} ratings, {interval} {level:.0%} interval" if interval != "none" else f"{method} ratings")
    W = np.array([[np.nan if v is None else v for v in row] for row in summary["win_rate"]])
    plot_win_rates(W, r.models, os.path.join(out_dir, "winrate.png"))
    lc = ""
    if baseline is not None:
        lcs = summary["length_controlled"]
        lc = ("<h2>Length-controlled win rate against " + html.escape(baseline) + "</h2><p>" + html.escape(lc_caption(lcs))
              + "</p><table><tr><th>model</th><th>win rate (%)</th><th>LC win rate (%)</th><th>instruction difficulty</th>"
              "<th>battles</th></tr>" + "".join(
                  f"<tr><td>{html.escape(m)}</td><td>{100 * v['win_rate']:.1f}</td><td>{_pct(v['lc_win_rate'])}</td>"
                  f"<td>{html.escape(v['difficulty_source'])}</td><td>{v['battles']}</td></tr>" for m, v in lcs.items())
              + "</table>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{summary['battles']} battles among {len(r.models)} models; method {method}, interval {interval}
({level:.0%}). Scale: {html.escape(summary['scale'])}. Rank = 1 + the number of models whose lower bound
exceeds this model's upper bound.</p>
{_table(summary)}
<h2>Ratings</h2><img src="ratings.png" alt="ratings with intervals">
<h2>Win rates</h2><img src="winrate.png" alt="win-rate heatmap">
{lc}
</body></html>
"""
    with open(os.path.join(out_dir, "report.html"), "w", encoding="utf-8") as fh:
        fh.write(page)
    return summary
